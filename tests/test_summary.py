"""mg.summary: one row per module call, in call order, with shapes, own parameters and totals."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


class SharedPool(nn.Module):
    """The usual style: one pooling module called twice."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 7 * 7, 10))

    def forward(self, x):
        x = self.pool(mg.relu(self.conv1(x)))
        x = self.pool(mg.relu(self.conv2(x)))
        return self.head(x)


def test_rows_follow_the_calls_with_shapes_and_own_parameters():
    model = SharedPool()
    result = mg.summary(model, mg.randn(4, 1, 28, 28))
    got = [(r.name, r.kind, r.depth, r.call, r.output_shape, r.params) for r in result.rows]
    assert got == [
        ("", "SharedPool", 0, 1, (4, 10), 0),
        ("conv1", "Conv2d", 1, 1, (4, 8, 28, 28), 8 * 9 + 8),
        ("pool", "MaxPool2d", 1, 1, (4, 8, 14, 14), 0),
        ("conv2", "Conv2d", 1, 1, (4, 16, 14, 14), 16 * 8 * 9 + 16),
        ("pool", "MaxPool2d", 1, 2, (4, 16, 7, 7), 0),
        ("head", "Sequential", 1, 1, (4, 10), 0),
        ("head.0", "Flatten", 2, 1, (4, 784), 0),
        ("head.1", "Linear", 2, 1, (4, 10), 784 * 10 + 10),
    ]
    assert result.rows[4].label == "pool (MaxPool2d) · call 2"
    assert result.total_params == sum(p.numel() for p in model.parameters()) == 9098
    assert result.trainable_params == 9098 and result.non_trainable_params == 0


def test_totals_and_memory():
    model = SharedPool()
    model.conv1.weight.requires_grad_(False)
    x = mg.randn(4, 1, 28, 28)
    result = mg.summary(model, x)
    assert result.non_trainable_params == 72 and result.trainable_params == 9098 - 72
    assert result.rows[1].trainable == "partial"
    assert result.param_bytes == 4 * 9098 and result.input_bytes == x.numpy().nbytes
    leaf_outputs = [(4, 8, 28, 28), (4, 8, 14, 14), (4, 16, 14, 14), (4, 16, 7, 7), (4, 784), (4, 10)]
    assert result.activation_bytes == 4 * sum(int(np.prod(s)) for s in leaf_outputs)


def test_the_table_prints_and_renders_as_html():
    text = str(mg.summary(SharedPool(), input_size=(2, 1, 28, 28)))
    assert "├─pool (MaxPool2d) · call 2" in text and "└─head (Sequential)" in text
    assert "  └─head.1 (Linear)" in text and "[2, 16, 7, 7]" in text
    assert "Total params: 9,098" in text and "Forward pass activations (MB)" in text
    html = mg.summary(SharedPool(), input_size=(2, 1, 28, 28))._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == 1 + 8 + 7
    assert "pool (MaxPool2d) · call 2" in html


def test_several_outputs_several_inputs_depth_and_no_recording():
    lstm = nn.LSTM(8, 16, batch_first=True)
    result = mg.summary(lstm, input_size=(2, 5, 8))
    assert result.rows[0].output_shape == ((2, 5, 16), ((1, 2, 16), (1, 2, 16)))
    assert "[2, 5, 16], ([1, 2, 16], [1, 2, 16])" in str(result)
    bilinear = nn.Bilinear(3, 4, 5)
    assert mg.summary(bilinear, (mg.randn(2, 3), mg.randn(2, 4))).rows[0].output_shape == (2, 5)
    model = SharedPool()
    shallow = mg.summary(model, input_size=(1, 1, 28, 28), depth=1)
    assert [r.name for r in shallow.rows] == ["", "conv1", "pool", "conv2", "pool", "head"]
    assert shallow.total_params == 9098
    assert all(p.grad is None for p in model.parameters())
    assert not model.conv1._forward_hooks and not model.conv1._forward_pre_hooks  # hooks removed


def test_input_is_required_once():
    with pytest.raises(ValueError, match="exactly one of input_data"):
        mg.summary(SharedPool())
    with pytest.raises(ValueError, match="exactly one of input_data"):
        mg.summary(SharedPool(), mg.randn(1, 1, 28, 28), input_size=(1, 1, 28, 28))
