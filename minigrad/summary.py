"""`mg.summary(model, example_input)`: the table people look at first (torchinfo's style).

One forward runs without recording. Every module call becomes one row, in call
order and indented by nesting: its qualified name and class, output shape, the
parameters it holds itself and whether they are trained. Totals follow, with
the memory of the parameters and of one forward's activations.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from . import grad_mode
from .creation import randn
from .tensor import Tensor


@dataclass
class SummaryRow:
    """One module call.

    Attributes:
        name: qualified name in the model ("" for the model itself), e.g. "features.0".
        kind: the module's class name, e.g. "Conv2d".
        depth: nesting depth (0 for the model).
        call: 1 for the module's first call in this forward, 2 for its second, ...
        output_shape: the output's shape, or a tuple of shapes for several outputs.
        params: parameters the module holds itself (not through its children).
        trainable: True, False, "partial", or None for a module that holds none.
        has_children: whether the module contains other modules.
        output_bytes: memory of the output's arrays.
    """
    name: str
    kind: str
    depth: int
    call: int
    output_shape: object
    params: int
    trainable: object
    has_children: bool
    output_bytes: int = 0

    @property
    def label(self) -> str:
        text = f"{self.name} ({self.kind})" if self.name else self.kind
        return text + (f" · call {self.call}" if self.call > 1 else "")


class ModelSummary:
    """The result of `summary`: `rows`, the totals, and the table as `str()` (and as HTML in Jupyter)."""

    def __init__(self, rows: list, total_params: int, trainable_params: int, input_bytes: int,
                 activation_bytes: int, param_bytes: int):
        self.rows = rows
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.non_trainable_params = total_params - trainable_params
        self.input_bytes = input_bytes
        self.activation_bytes = activation_bytes
        self.param_bytes = param_bytes

    @property
    def totals(self) -> list:
        """(label, value) lines printed under the table."""
        mb = 1024 ** 2
        return [("Total params", f"{self.total_params:,}"),
                ("Trainable params", f"{self.trainable_params:,}"),
                ("Non-trainable params", f"{self.non_trainable_params:,}"),
                ("Input size (MB)", f"{self.input_bytes / mb:.2f}"),
                ("Forward pass activations (MB)", f"{self.activation_bytes / mb:.2f}"),
                ("Params size (MB)", f"{self.param_bytes / mb:.2f}"),
                ("Estimated total (MB)",
                 f"{(self.input_bytes + self.activation_bytes + self.param_bytes) / mb:.2f}")]

    def _cells(self, row: SummaryRow) -> list:
        params = "--" if row.params == 0 and row.has_children else f"{row.params:,}"
        trainable = {None: "--", True: "True", False: "False", "partial": "Partial"}[row.trainable]
        return [row.label, _format_shape(row.output_shape), params, trainable]

    def __str__(self) -> str:
        header = ["Layer (type)", "Output Shape", "Param #", "Trainable"]
        body = []
        for i, row in enumerate(self.rows):
            cells = self._cells(row)
            cells[0] = _tree_prefix(self.rows, i) + cells[0]
            body.append(cells)
        widths = [max(len(line[c]) for line in [header] + body) + 2 for c in range(4)]
        rule = "=" * sum(widths)
        lines = [rule, _join(header, widths), rule] + [_join(cells, widths) for cells in body] + [rule]
        lines += [f"{label}: {value}" for label, value in self.totals] + [rule]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ["Layer (type)", "Output Shape", "Param #", "Trainable"])
        body = []
        for row in self.rows:
            cells = self._cells(row)
            cells[0] = "&nbsp;&nbsp;&nbsp;&nbsp;" * row.depth + html.escape(cells[0], quote=False)
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        totals = "".join(f"<tr><td colspan='3'>{label}</td><td>{value}</td></tr>" for label, value in self.totals)
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
                f"<tfoot>{totals}</tfoot></table>")


def summary(model, input_data=None, *, input_size=None, dtype=None, depth: int | None = None) -> ModelSummary:
    """Run one forward of `model` without recording and tabulate its module calls.

    Args:
        model: an nn.Module.
        input_data: the example input: a tensor, or a tuple/list of the forward's arguments.
        input_size: instead of input_data, the shape of one input (e.g. (1, 3, 32, 32)) or a
            list of shapes, one per argument; inputs are drawn from a standard normal.
        dtype: dtype of the inputs made from input_size (default float32).
        depth: rows nested deeper than this are left out (totals still count them).

    Returns:
        A ModelSummary: print it, or look at `.rows` and the totals.
    """
    if (input_data is None) == (input_size is None):
        raise ValueError("summary: pass exactly one of input_data (example tensors) and input_size (shapes)")
    if input_data is None:
        shapes = [input_size] if all(isinstance(n, (int, np.integer)) for n in input_size) else list(input_size)
        inputs = [randn(*shape, dtype=dtype) for shape in shapes]
    else:
        inputs = list(input_data) if isinstance(input_data, (tuple, list)) else [input_data]

    names = {id(module): name for name, module in model.named_modules()}
    rows, stack, calls, handles = [], [], {}, []

    def before(module, args):
        calls[id(module)] = calls.get(id(module), 0) + 1
        own = list(module.parameters(recurse=False))
        trained = [p.requires_grad for p in own]
        trainable = None if not own else True if all(trained) else False if not any(trained) else "partial"
        row = SummaryRow(names.get(id(module), "?"), type(module).__name__, len(stack), calls[id(module)],
                         None, sum(p.numel() for p in own), trainable, bool(list(module.children())))
        rows.append(row)
        stack.append(row)

    def after(module, args, output):
        row = stack.pop()
        row.output_shape = _shapes(output)
        row.output_bytes = _bytes(output)

    for module in model.modules():
        handles.append(module.register_forward_pre_hook(before))
        handles.append(module.register_forward_hook(after))
    try:
        with grad_mode.no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()

    params = {id(p): p for p in model.parameters()}.values()
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    # a leaf module's outputs are the activations a forward keeps; a container's are the same arrays
    activations = sum(row.output_bytes for row in rows if not row.has_children)
    shown = [row for row in rows if depth is None or row.depth <= depth]
    return ModelSummary(shown, total, trainable, sum(_bytes(x) for x in inputs), activations,
                        sum(p.array.nbytes for p in params))


def _shapes(output):
    if isinstance(output, Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):
        return tuple(_shapes(item) for item in output)
    return None


def _bytes(output) -> int:
    if isinstance(output, Tensor):
        return output.array.nbytes
    if isinstance(output, (tuple, list)):
        return sum(_bytes(item) for item in output)
    return 0


def _format_shape(shape, nested: bool = False) -> str:
    if shape is None:
        return "--"
    if all(isinstance(n, (int, np.integer)) for n in shape):
        return "[" + ", ".join(str(n) for n in shape) + "]"
    inner = ", ".join(_format_shape(item, True) for item in shape)
    return f"({inner})" if nested else inner


def _tree_prefix(rows: list, index: int) -> str:
    """'│ ' for each open ancestor level and '├─' / '└─' for the row itself (the model: none)."""
    depth = rows[index].depth
    if depth == 0:
        return ""
    parts = []
    for level in range(1, depth):
        more = any(r.depth == level for r in _until_shallower(rows, index, level))
        parts.append("│ " if more else "  ")
    last = not any(r.depth == depth for r in _until_shallower(rows, index, depth))
    return "".join(parts) + ("└─" if last else "├─")


def _until_shallower(rows: list, index: int, level: int):
    """The rows after `index` up to the first one shallower than `level`."""
    for row in rows[index + 1:]:
        if row.depth < level:
            return
        yield row


def _join(cells: list, widths: list) -> str:
    return "".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()
