"""optim: optimizers and learning-rate schedules (torch.optim-style)."""
