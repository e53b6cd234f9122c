"""ONNX export: `minigrad.onnx.export(model, args, f)`, spelled as PyTorch's `torch.onnx.export`.

The model's forward runs once in eval mode under `no_grad` while the tracer of
`mg.compile` (minigrad/capture.py) records every primitive `Function.apply`
runs and the numpy work the library does on recorded values. Each recorded
primitive becomes one or a few ONNX operators; numpy work on values that do not
depend on the inputs (batch norm's 1 / sqrt(running_var + eps), a causal mask)
is computed now and stored as a constant. Parameters and buffers become
initializers named by their state-dict keys.

The forward is traced a second time on other example values (the inputs'
entries rolled by one place, and the `dynamic_axes` one or two longer): a
value recorded as a constant that changes is numpy work on the inputs that the
tracer could not follow, and is refused rather than baked into the file.
Dynamic axes: a size that differs between the two traces
(a reshape target, the batch of an LSTM's zero initial state) is emitted as a
multiple of the input's runtime size (Shape -> Gather -> Mul), so the same file
runs at another batch size; a size that cannot be written so is an error that
says which op needs it.

Recurrent layers (nn.RNN/GRU/LSTM) are unrolled: their traced step ops are
exported as they ran, so the file has the traced sequence length fixed.

`onnx` is needed only when `export` is called (`pip install minigrad-numpy[onnx]`).
"""
from __future__ import annotations

import os

import numpy as np

from . import grad_mode
from .capture import Argument, AsItCame, NamedTupleOf, Plain, Slot, _Prepared, _resolve, _slots
from .function import Function
from .nn import Module
from .ops import conv as _conv, elementwise as _el, linalg as _la, neural as _ne, reduction as _re, shape as _sh
from .tensor import Tensor, _make
from .viz import DrawingTracer

__all__ = ["export", "register_op", "supported_ops", "UnsupportedOperatorError"]

DEFAULT_OPSET = 17
_INT64_MAX, _INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


class UnsupportedOperatorError(RuntimeError):
    """A traced op has no ONNX mapping (the message names the op, the module and the workaround)."""


# ---- tracing ------------------------------------------------------------------------------------

def _trace(model, args):
    tracer = DrawingTracer()  # it keeps, for each step, the module call it was recorded in
    with grad_mode.no_grad():
        _, trace = tracer.capture(model, args, {}, model if isinstance(model, Module) else None)
    if trace is None:
        raise RuntimeError(f"onnx.export: the forward could not be traced for export: {tracer.reason}")
    return trace, tracer.calls


def _evaluate(trace, args) -> list:
    """Every slot's value at capture, by running the recorded steps again on the call's arrays."""
    env = _Prepared(trace)._environment()
    for slot, path in trace.inputs:
        env[slot] = args[path].array
    with grad_mode.no_grad():
        for step in trace.steps:
            if step.kind == "primitive":
                arrays = [env[i] for i in step.args]
                env[step.output] = Function.apply.__func__(step.target, *arrays,
                                                           **_resolve(step.kwargs, env)).array
            elif step.kind in ("numpy", "draw") and step.output is not None:
                result = step.target(*_resolve(step.args, env), **_resolve(step.kwargs, env))
                env[step.output] = np.asarray(result) if isinstance(result, np.generic) else result
    return env


def _step_inputs(step) -> list:
    if step.kind == "primitive":
        return list(step.args) + _slots(step.kwargs)
    return _slots(step.args) + _slots(step.kwargs)


# ---- the graph being built ----------------------------------------------------------------------

class _Graph:
    """The ONNX graph under construction, and what the converters need to know about each slot."""

    def __init__(self, onnx, opset, env, env2, symbols):
        self.onnx, self.helper, self.opset = onnx, onnx.helper, opset
        self.env, self.env2 = env, env2          # slot values at the traced size and at the other one
        self.symbols = symbols                   # [(input name, axis, size, size at the other trace)]
        self.nodes, self.initializers = [], []
        self.names = {}                          # slot -> ONNX name
        self._count = 0
        self._cache = {}

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def node(self, op: str, inputs, hint: str = None, **attributes) -> str:
        out = self.fresh(hint or op)
        self.nodes.append(self.helper.make_node(op, list(inputs), [out], name=out, **attributes))
        return out

    def constant(self, value, hint: str = "const", name: str = None) -> str:
        array = np.asarray(value)
        key = None
        if name is None and array.size <= 16:
            key = (array.dtype.str, array.shape, array.tobytes())
            if key in self._cache:
                return self._cache[key]
        name = name or self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array.copy(order="C"), name))  # (ascontiguousarray makes 0-d 1-d)
        if key is not None:
            self._cache[key] = name
        return name

    def ints(self, values) -> str:
        return self.constant(np.asarray(values, dtype=np.int64))

    def cast(self, name: str, slot_dtype, dtype) -> str:
        """name converted to dtype (a node only when the dtypes differ)."""
        if np.dtype(slot_dtype) == np.dtype(dtype):
            return name
        return self.node("Cast", [name], "cast", to=self.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    def dim(self, size: int, size2: int) -> str:
        """A 1-element int64 tensor holding a size that may depend on a dynamic axis."""
        if size == size2:
            return self.ints([size])
        for input_name, axis, s1, s2 in self.symbols:
            if s1 and size % s1 == 0 and (size // s1) * s2 == size2:
                factor = size // s1
                key = ("dim", input_name, axis)
                if key not in self._cache:
                    shape = self.node("Shape", [input_name], "shape")
                    self._cache[key] = self.node("Gather", [shape, self.ints([axis])], "size", axis=0)
                base = self._cache[key]
                return base if factor == 1 else self.node("Mul", [base, self.ints([factor])], "size")
        raise _NotExpressible(size, size2)

    def shape_tensor(self, dims, dims2) -> str:
        """An int64 shape that may have dynamic entries."""
        if tuple(dims) == tuple(dims2):
            return self.ints(list(dims))
        pieces, static = [], []
        for d1, d2 in zip(dims, dims2):
            if d1 == d2:
                static.append(d1)
                continue
            if static:
                pieces.append(self.ints(static))
                static = []
            pieces.append(self.dim(d1, d2))
        if static:
            pieces.append(self.ints(static))
        return pieces[0] if len(pieces) == 1 else self.node("Concat", pieces, "shape", axis=0)

    def reduce(self, op: str, name: str, axes, keepdims: bool) -> str:
        if axes is None:
            return self.node(op, [name], op.lower(), keepdims=int(keepdims))
        axes = [int(a) for a in ((axes,) if np.ndim(axes) == 0 else axes)]
        if op == "ReduceSum" or self.opset >= 18:
            return self.node(op, [name, self.ints(axes)], op.lower(), keepdims=int(keepdims))
        return self.node(op, [name], op.lower(), axes=axes, keepdims=int(keepdims))


_SCALAR = "<python number>"  # the name of a Python-number input until a converter picks its dtype


class _NotExpressible(Exception):
    def __init__(self, size, size2):
        super().__init__(size, size2)
        self.size, self.size2 = size, size2


class _Step:
    """What a converter is handed: one recorded step with its ONNX input names and traced shapes."""

    def __init__(self, graph, step, names, step2):
        self.graph, self.step, self.inputs = graph, step, names
        self.settings = step.kwargs
        self.settings2 = step2.kwargs  # at the other size of the dynamic axes
        env, env2 = graph.env, graph.env2
        self.slots = list(step.args) if step.kind == "primitive" else None
        self.out_shape = np.shape(env[step.output])
        self.out_shape2 = np.shape(env2[step.output])
        self.out_dtype = np.asarray(env[step.output]).dtype

    def shape(self, i):
        return np.shape(self.graph.env[self.slots[i]])

    def shape2(self, i):
        return np.shape(self.graph.env2[self.slots[i]])

    def dtype(self, i):
        value = self.graph.env[self.slots[i]]
        return np.asarray(value).dtype

    def value(self, i):
        return self.graph.env[self.slots[i]]

    def input_as(self, i, dtype):
        """Input i converted to dtype (a Python number becomes a constant of that dtype)."""
        name = self.inputs[i]
        if name == _SCALAR:
            return self.graph.constant(np.asarray(self.graph.env[self.slots[i]], dtype=dtype))
        return self.graph.cast(name, self.dtype(i), dtype)


# ---- converters: one per primitive ----------------------------------------------------------------

_CONVERTERS = {}


def register_op(function_class):
    """Register a converter for a primitive: `@register_op(MyOp)` over `def convert(g, s) -> name`.

    `g` is the graph (g.node(op, inputs, **attributes) adds a node and returns its output name,
    g.constant(array) an initializer); `s.inputs` are the ONNX names of the op's inputs,
    `s.settings` its keyword settings, `s.out_shape`/`s.out_dtype` its traced output.
    """
    def decorate(converter):
        _CONVERTERS[function_class] = converter
        return converter
    return decorate


def supported_ops() -> list:
    """Names of the primitives that export maps to ONNX."""
    return sorted(cls.__name__ for cls in _CONVERTERS)


def _elementwise(onnx_op):
    def convert(g, s):
        return g.node(onnx_op, [s.input_as(i, s.out_dtype) for i in range(len(s.inputs))])
    return convert


for _cls, _op in [(_el.Add, "Add"), (_el.Sub, "Sub"), (_el.Mul, "Mul"), (_el.Div, "Div"), (_el.Pow, "Pow"),
                  (_el.Neg, "Neg"), (_el.Exp, "Exp"), (_el.Log, "Log"), (_el.Sqrt, "Sqrt"), (_el.Sin, "Sin"),
                  (_el.Cos, "Cos"), (_el.Tanh, "Tanh"), (_el.Sigmoid, "Sigmoid"), (_el.Softplus, "Softplus"),
                  (_el.Relu, "Relu"), (_el.Abs, "Abs"), (_el.Erf, "Erf"), (_el.Maximum, "Max"),
                  (_el.Minimum, "Min"), (_re.RootOfVariance, "Sqrt"), (_sh.Clone, "Identity"),
                  (_la.MatMul, "MatMul"), (_el.Sign, "Sign"), (_el.Floor, "Floor"), (_el.Ceil, "Ceil")]:
    _CONVERTERS[_cls] = _elementwise(_op)


@register_op(_el.Addcmul)
def _addcmul(g, s):
    dtype = s.out_dtype
    return g.node("Add", [s.input_as(0, dtype), g.node("Mul", [s.input_as(1, dtype), s.input_as(2, dtype)])])


@register_op(_la.Addmm)
def _addmm(g, s):
    dtype = s.out_dtype
    return g.node("Add", [g.node("MatMul", [s.input_as(1, dtype), s.input_as(2, dtype)]), s.input_as(0, dtype)])


@register_op(_el.Where)
def _where(g, s):
    return g.node("Where", [s.input_as(0, np.bool_), s.input_as(1, s.out_dtype), s.input_as(2, s.out_dtype)])


@register_op(_el.Clamp)
def _clamp(g, s):
    low, high = s.settings.get("min"), s.settings.get("max")
    bounds = [g.constant(np.asarray(b, dtype=s.out_dtype)) if b is not None else "" for b in (low, high)]
    while bounds and bounds[-1] == "":
        bounds.pop()
    return g.node("Clip", [s.input_as(0, s.out_dtype)] + bounds)


@register_op(_el.Cast)
def _cast(g, s):
    return g.node("Cast", [s.inputs[0]], to=g.helper.np_dtype_to_tensor_dtype(s.out_dtype))


@register_op(_la.Einsum)
def _einsum(g, s):
    return g.node("Einsum", [s.input_as(i, s.out_dtype) for i in range(len(s.inputs))],
                  equation=s.settings["equation"])


@register_op(_ne.Softmax)
def _softmax(g, s):
    return g.node("Softmax", [s.inputs[0]], axis=int(s.settings["axis"]))


@register_op(_ne.LogSoftmax)
def _log_softmax(g, s):
    return g.node("LogSoftmax", [s.inputs[0]], axis=int(s.settings["axis"]))


@register_op(_ne.LayerNorm)
def _layer_norm(g, s):
    ndim = len(s.shape(0))
    axes = sorted(a % ndim for a in s.settings["axes"])
    if axes != list(range(axes[0], ndim)):
        raise _Unsupported(f"layer norm over axes {tuple(axes)} (ONNX normalizes the trailing axes only)")
    scale = g.constant(np.ones(s.shape(0)[axes[0]:], dtype=s.out_dtype), "ones")
    return g.node("LayerNormalization", [s.inputs[0], scale], axis=axes[0], epsilon=float(s.settings["eps"]))


for _cls, _op in [(_re.Sum, "ReduceSum"), (_re.Amax, "ReduceMax"), (_re.Amin, "ReduceMin"),
                  (_re.Prod, "ReduceProd"), (_re.Norm, "ReduceL2")]:
    def _reduction(g, s, _op=_op):
        return g.reduce(_op, s.inputs[0], s.settings.get("axis"), s.settings.get("keepdims", False))
    _CONVERTERS[_cls] = _reduction


@register_op(_re.Cumsum)
def _cumsum(g, s):
    return g.node("CumSum", [s.inputs[0], g.constant(np.asarray(s.settings["axis"], dtype=np.int64))])


def _reshape_to(g, name, shape, shape2):
    dims, dims2 = list(shape), list(shape2)
    changing = [i for i, (a, b) in enumerate(zip(dims, dims2)) if a != b]
    if len(changing) == 1:  # one size that follows the batch: numpy's -1 says it
        dims[changing[0]] = dims2[changing[0]] = -1
    return g.node("Reshape", [name, g.shape_tensor(dims, dims2)])


@register_op(_sh.Reshape)
def _reshape(g, s):
    return _reshape_to(g, s.inputs[0], s.out_shape, s.out_shape2)


@register_op(_sh.Permute)
def _permute(g, s):
    return g.node("Transpose", [s.inputs[0]], perm=[int(a) for a in s.settings["axes"]])


@register_op(_sh.Expand)
def _expand(g, s):
    dims, dims2 = list(s.out_shape), list(s.out_shape2)
    shape, shape2 = s.shape(0), s.shape2(0)
    offset = len(dims) - len(shape)
    for i in range(offset, len(dims)):  # a size the input has already: 1 keeps it (ONNX broadcasts both ways)
        if shape[i - offset] == dims[i] and shape2[i - offset] == dims2[i]:
            dims[i] = dims2[i] = 1
    return g.node("Expand", [s.inputs[0], g.shape_tensor(dims, dims2)])


@register_op(_sh.Cat)
def _cat(g, s):
    return g.node("Concat", [s.input_as(i, s.out_dtype) for i in range(len(s.inputs))],
                  axis=int(s.settings["axis"]))


@register_op(_sh.Stack)
def _stack(g, s):
    axis = int(s.settings["axis"]) % len(s.out_shape)
    parts = [g.node("Unsqueeze", [s.input_as(i, s.out_dtype), g.ints([axis])]) for i in range(len(s.inputs))]
    return parts[0] if len(parts) == 1 else g.node("Concat", parts, axis=axis)


@register_op(_sh.Pad)
def _pad(g, s):
    widths = np.broadcast_to(np.asarray(s.settings["widths"], dtype=np.int64), (len(s.shape(0)), 2))
    pads = list(widths[:, 0]) + list(widths[:, 1])
    value = g.constant(np.asarray(s.settings.get("value", 0), dtype=s.out_dtype))
    return g.node("Pad", [s.inputs[0], g.ints(pads), value], mode="constant")


@register_op(_sh.Flip)
def _flip(g, s):
    axes = s.settings["axis"]
    axes = [int(a) for a in ((axes,) if np.ndim(axes) == 0 else axes)]
    n = len(axes)
    return g.node("Slice", [s.inputs[0], g.ints([-1] * n), g.ints([_INT64_MIN] * n), g.ints(axes),
                            g.ints([-1] * n)])


def _index_items(index, ndim):
    items = list(index) if type(index) is tuple else [index]
    consumed = sum(0 if item is None or item is Ellipsis else
                   (np.ndim(item) if isinstance(item, np.ndarray) and item.dtype == bool else 1) for item in items)
    for k, item in enumerate(items):
        if item is Ellipsis:
            items[k:k + 1] = [slice(None)] * (ndim - consumed)
            break
    return items


def _bounds(item):
    step = 1 if item.step is None else int(item.step)
    if step > 0:
        start = 0 if item.start is None else int(item.start)
        stop = _INT64_MAX if item.stop is None else int(item.stop)
    else:
        start = _INT64_MAX if item.start is None else int(item.start)
        stop = _INT64_MIN if item.stop is None else int(item.stop)
    return start, stop, step


@register_op(_sh.GetItem)
def _getitem(g, s):
    return _index(g, s.inputs[0], s.shape(0), s.shape2(0), s.settings["index"], s.settings2["index"])


def _index(g, name, shape, shape2, index, index2):
    """x[index] for numpy's basic indices and one integer index array (a constant or a traced value)."""
    items = _index_items(index, len(shape))
    items2 = _index_items(index2, len(shape2))
    if len([i for i in items if isinstance(i, (np.ndarray, Slot))]) > 1:
        raise _Unsupported("indexing with more than one index array (x[rows, cols])")
    current, axis = name, 0
    slices = []  # (axis, start, start2, stop, stop2, step), emitted as one Slice

    def flush(current):
        if not slices:
            return current
        axes, starts, starts2, stops, stops2, steps = zip(*slices)
        slices.clear()
        return g.node("Slice", [current, g.shape_tensor(starts, starts2), g.shape_tensor(stops, stops2),
                                g.ints(axes), g.ints(steps)], "slice")

    for item, item2 in zip(items, items2):
        if isinstance(item, np.ndarray) and isinstance(item2, np.ndarray):
            changed = item.shape != item2.shape or not np.array_equal(item, item2)
        else:
            changed = type(item) is not type(item2) or (not isinstance(item, Slot) and item != item2)
        if changed and not (isinstance(item, slice) and isinstance(item2, slice)):
            raise _Unsupported(f"an index that changes with the size of the dynamic axes ({item!r} vs {item2!r})")
        if item is None:
            current = g.node("Unsqueeze", [flush(current), g.ints([axis])])
            axis += 1
        elif isinstance(item, slice):
            (start, stop, step), (start2, stop2, step2) = _bounds(item), _bounds(item2)
            if step != step2:
                raise _Unsupported(f"a slice step that changes with the size of the dynamic axes ({item!r})")
            if (start, stop, step, start2, stop2) != (0, _INT64_MAX, 1, 0, _INT64_MAX):
                slices.append((axis, start, start2, stop, stop2, step))
            axis += 1
        elif isinstance(item, (int, np.integer)):
            current = g.node("Gather", [flush(current), g.constant(np.asarray(int(item), dtype=np.int64))],
                             axis=axis)
        elif isinstance(item, Slot) or (isinstance(item, np.ndarray) and item.dtype.kind in "iu"):
            if isinstance(item, Slot):
                indices = g.cast(g.names[item.index], np.asarray(g.env[item.index]).dtype, np.int64)
                depth = np.ndim(g.env[item.index])
            else:
                indices, depth = g.constant(item.astype(np.int64), "indices"), item.ndim
            current = g.node("Gather", [flush(current), indices], axis=axis)
            axis += depth
        else:
            raise _Unsupported(f"indexing with {type(item).__name__} {item!r} (boolean masks have no fixed shape)")
    current = flush(current)
    if current == name:
        current = g.node("Identity", [current])
    return current


def _window(geometry):
    _, kernel, stride, padding, dilation = geometry
    return dict(kernel_shape=list(kernel), strides=list(stride), pads=list(padding) * 2, dilations=list(dilation))


@register_op(_conv.Conv2d)
def _conv2d(g, s):
    inputs = [name for name in s.inputs if name is not None]
    return g.node("Conv", inputs, **_window(s.settings["geometry"]))


@register_op(_conv.ConvTranspose2d)
def _conv_transpose2d(g, s):
    geometry = s.settings["geometry"]
    (_, _, height, width), kernel, stride, padding, dilation = geometry
    in_h, in_w = s.shape(0)[2:]
    extra = [size - ((n - 1) * st - 2 * p + d * (k - 1) + 1)
             for size, n, k, st, p, d in zip((height, width), (in_h, in_w), kernel, stride, padding, dilation)]
    return g.node("ConvTranspose", list(s.inputs), output_padding=extra, **_window(geometry))


@register_op(_conv.MaxPool2d)
def _max_pool2d(g, s):
    return g.node("MaxPool", [s.inputs[0]], **_window(s.settings["geometry"]))


@register_op(_conv.Unfold)
def _unfold(g, s):
    # im2col as a grouped convolution with one-hot kernels: channel c * kh * kw + k copies offset k
    geometry = s.settings["geometry"]
    channels = s.shape(0)[1]
    kh, kw = geometry[1]
    eye = np.eye(kh * kw, dtype=s.out_dtype).reshape(kh * kw, 1, kh, kw)
    weight = g.constant(np.tile(eye, (channels, 1, 1, 1)), "unfold_kernel")
    columns = g.node("Conv", [s.inputs[0], weight], group=channels, **_window(geometry))
    return g.node("Reshape", [columns, g.ints([0, channels * kh * kw, -1])])


# numpy work the library does outside primitives, on values that depend on the inputs
_UFUNCS = {"add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div", "true_divide": "Div",
           "greater": "Greater", "less": "Less", "greater_equal": "GreaterOrEqual", "less_equal": "LessOrEqual",
           "equal": "Equal", "logical_and": "And", "logical_or": "Or", "logical_xor": "Xor",
           "logical_not": "Not", "maximum": "Max", "minimum": "Min", "negative": "Neg", "exp": "Exp",
           "log": "Log", "sqrt": "Sqrt", "tanh": "Tanh", "absolute": "Abs", "isnan": "IsNaN",
           "bitwise_and": "And", "bitwise_or": "Or", "invert": "Not"}


def _numpy_step(g, step, describe):
    """ONNX nodes for a numpy call on input-dependent values (comparisons, clip, astype, where)."""
    fn = step.target
    args = step.args
    values = _resolve(args, g.env)
    out = g.env[step.output]
    out_dtype = np.asarray(out).dtype

    def name_of(template, value, dtype):
        if type(template) is Slot:
            return g.cast(g.names[template.index], np.asarray(value).dtype, dtype)
        return g.constant(np.asarray(value, dtype=dtype))

    ufunc = getattr(fn, "__self__", None)
    if isinstance(ufunc, np.ufunc) and getattr(fn, "__name__", "") == "__call__" and ufunc.__name__ in _UFUNCS \
            and not step.kwargs:
        op = _UFUNCS[ufunc.__name__]
        compute = out_dtype if out_dtype != np.bool_ or op in ("And", "Or", "Xor", "Not") \
            else np.result_type(*values)
        return g.node(op, [name_of(t, v, compute) for t, v in zip(args, values)])
    if fn is np.clip and not step.kwargs:
        return g.node("Clip", [name_of(t, v, out_dtype) for t, v in zip(args, values)])
    if fn is np.where and len(args) == 3 and not step.kwargs:
        return g.node("Where", [name_of(args[0], values[0], np.bool_)] +
                      [name_of(t, v, out_dtype) for t, v in zip(args[1:], values[1:])])
    method = getattr(fn, "__name__", None) if type(fn).__name__ == "_MethodCall" else None
    if method == "astype":
        return name_of(args[0], values[0], out_dtype)
    if method == "__getitem__" and type(args[0]) is Slot:
        return _index(g, g.names[args[0].index], np.shape(values[0]), np.shape(g.env2[args[0].index]),
                      args[1], _template_at(g, step))
    if (method == "reshape" or fn is np.reshape) and type(args[0]) is Slot:
        return _reshape_to(g, g.names[args[0].index], np.shape(out), np.shape(g.env2[step.output]))
    raise _Unsupported(f"numpy's {describe} on a value computed from the inputs")


class _Unsupported(Exception):
    pass


def _template_at(g, step):
    """The index of a numpy __getitem__ step as recorded at the other size (the second trace)."""
    return g.steps2[g.step_index[id(step)]].args[1]


# ---- export -------------------------------------------------------------------------------------

def _flat_outputs(template, out):
    if type(template) in (Slot, Plain, AsItCame, Argument):
        out.append(template)
    elif type(template) is NamedTupleOf:
        for t in template.parts:
            _flat_outputs(t, out)
    elif type(template) in (tuple, list):
        for t in template:
            _flat_outputs(t, out)
    elif type(template) is dict:
        for t in template.values():
            _flat_outputs(t, out)
    return out


def _other_example(array: np.ndarray, axes: dict) -> np.ndarray:
    """The second trace's input: each dynamic axis made longer by repeating its entries, and the
    entries rolled by one place, so the values are others drawn from the same ones (tokens stay
    valid tokens) and a constant that secretly depends on them shows up as changed."""
    for k, axis in enumerate(sorted(axes)):
        size = array.shape[axis]
        array = np.take(array, np.arange(size + 1 + k) % size, axis=axis)
    return np.roll(array.ravel(), 1).reshape(array.shape)


def _axes_of(spec) -> dict:
    """{axis: name or None} from dynamic_axes' {axis: name} or [axis, ...]."""
    if isinstance(spec, dict):
        return {int(a): n for a, n in spec.items()}
    return {int(a): None for a in spec}


def _module_names(model) -> dict:
    if not isinstance(model, Module):
        return {}
    return {id(module): name for name, module in model.named_modules(remove_duplicate=False)}


def _describe_call(call, names, model) -> str:
    if call is None:
        return "outside any module"
    module_name = names.get(call.module_id)
    if module_name is None:
        return "in a module outside the exported model"
    if module_name == "":
        return f"in the top-level module ({type(model).__name__}.forward)"
    module = dict(model.named_modules(remove_duplicate=False)).get(module_name)
    return f"in module '{module_name}' ({type(module).__name__})"


def export(model, args, f, input_names=None, output_names=None, dynamic_axes=None, opset_version=None,
           **kwargs):
    """Export `model` to an ONNX file that onnxruntime runs, as torch.onnx.export.

    Args:
        model: an nn.Module (traced in eval mode; its training flags are restored after) or a function.
        args: a Tensor or a tuple of Tensors: the example inputs the forward is traced with.
        f: a path, or a binary file object to write the model to.
        input_names, output_names: names of the graph's inputs and outputs (default input0, ...,
            output0, ...; a single one is 'input' / 'output').
        dynamic_axes: {name: {axis: axis_name}} or {name: [axis, ...]}: axes of inputs (and
            outputs) whose size may differ at run time (usually the batch axis).
        opset_version: ONNX opset (default 17; 17 or later).
        kwargs: PyTorch's other options (export_params, do_constant_folding, verbose, ...) are accepted
            and ignored: parameters are always stored and constants always folded.

    Raises:
        UnsupportedOperatorError: an op has no ONNX mapping (the message names it and its module).
    """
    try:
        import onnx
    except ImportError:
        raise ImportError("onnx.export needs the onnx package - pip install 'minigrad-numpy[onnx]' "
                          "(or pip install onnx)") from None
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if opset < 17:
        raise ValueError(f"onnx.export: opset_version {opset} is not supported - use 17 or later "
                         "(LayerNormalization needs 17)")
    args = (args,) if isinstance(args, Tensor) else tuple(args)
    if not args or not all(isinstance(a, Tensor) for a in args):
        raise TypeError(f"onnx.export: args must be a Tensor or a tuple of Tensors, got "
                        f"{[type(a).__name__ for a in args]}")
    if input_names is None:
        input_names = ["input"] if len(args) == 1 else [f"input{i}" for i in range(len(args))]
    input_names = list(input_names) + [f"input{i}" for i in range(len(input_names), len(args))]
    dynamic_axes = dict(dynamic_axes or {})

    modules = list(model.modules()) if isinstance(model, Module) else []
    was_training = [m.training for m in modules]
    for m in modules:
        m.training = False
    try:
        trace, calls = _trace(model, args)
        env = _evaluate(trace, args)
        longer = {i: _axes_of(dynamic_axes[name]) for i, name in enumerate(input_names[:len(args)])
                  if name in dynamic_axes}
        symbols = []
        args2 = tuple(_make(_other_example(a.array, longer.get(i, {}))) for i, a in enumerate(args))
        trace2, _ = _trace(model, args2)
        if [(s.kind, s.target) for s in trace2.steps] != [(s.kind, s.target) for s in trace.steps] \
                or trace2.slot_count != trace.slot_count:
            raise RuntimeError("onnx.export: the model runs different ops for other input values or sizes of the "
                               f"dynamic axes {dynamic_axes} (Python control flow on them), so one graph cannot "
                               "serve both - export without dynamic_axes, or make the control flow fixed")
        env2 = _evaluate(trace2, args2)
        for i, axes in longer.items():
            for axis in axes:
                symbols.append((input_names[i], axis, args[i].shape[axis], args2[i].shape[axis]))
    finally:
        for m, flag in zip(modules, was_training):
            m.training = flag

    graph = _Graph(onnx, opset, env, env2, symbols)
    graph.steps2, graph.step_index = trace2.steps, {id(step): i for i, step in enumerate(trace.steps)}
    names = _module_names(model)
    h = onnx.helper

    # graph inputs
    graph_inputs = []
    for (slot, path) in trace.inputs:
        name = input_names[path]
        graph.names[slot] = name
        axes = _axes_of(dynamic_axes.get(name, {}))
        array = args[path].array
        dims = [axes[a] or f"{name}_dynamic_axes_{a}" if a in axes else n for a, n in enumerate(array.shape)]
        graph_inputs.append(h.make_tensor_value_info(name, h.np_dtype_to_tensor_dtype(array.dtype), dims))

    # what is computed from the inputs, what is a parameter, what is a constant
    state = {}
    if isinstance(model, Module):
        for key, tensor in model.state_dict(keep_vars=True).items():
            state.setdefault(id(tensor), key)
    kind = {}
    for slot, _ in trace.inputs:
        kind[slot] = "dynamic"
    for slot, tensor in trace.externals:
        if id(tensor) in state and slot not in trace.fresh:
            kind[slot] = "param"
    producer = {}
    for index, step in enumerate(trace.steps):
        if step.output is None or step.kind == "guard":
            continue
        producer[step.output] = index
        inputs = [kind.get(s, "const") for s in _step_inputs(step)]
        if "dynamic" in inputs:
            kind[step.output] = "dynamic"
        elif step.kind == "primitive" and "param" in inputs:
            kind[step.output] = "param"

    outputs = _flat_outputs(trace.outputs, [])
    # only what the outputs need
    needed, stack = set(), [o.index for o in outputs if type(o) is Slot]
    while stack:
        slot = stack.pop()
        if slot in needed:
            continue
        needed.add(slot)
        if slot in producer and kind.get(slot, "const") != "const":
            stack.extend(_step_inputs(trace.steps[producer[slot]]))

    def const_name(slot, index=None):
        value, value2 = env[slot], env2[slot]
        if value is None:
            return None
        array = np.asarray(value)
        if np.shape(value) != np.shape(value2) or not np.array_equal(array, np.asarray(value2), equal_nan=True):
            flat, flat2 = array.ravel(), np.asarray(value2).ravel()
            if np.shape(value) != np.shape(value2) and flat.size and flat2.size and (flat == flat[0]).all() \
                    and (flat2 == flat[0]).all():  # a fill (an RNN's zero state): as large as the batch
                scalar = graph.constant(flat[:1].reshape(()), "fill")
                return graph.node("Expand", [scalar, graph.shape_tensor(array.shape, np.shape(value2))], "fill")
            call = _describe_call(calls.get(index), names, model) if index is not None else "in the model"
            raise UnsupportedOperatorError(
                f"onnx.export: a value of shape {array.shape}, used {call}, was computed from the inputs by numpy "
                "work the tracer could not follow (it changes with the input values or sizes but was recorded as "
                "a constant) - compute it with minigrad ops on tensors")
        if isinstance(value, np.ndarray) or isinstance(value, np.generic):
            return graph.constant(array, "const")
        return _SCALAR  # a Python number: the consuming op makes it in the dtype it needs

    for slot, tensor in trace.externals:
        if kind.get(slot) == "param" and slot in needed:
            graph.names[slot] = graph.constant(tensor.array, name=state[id(tensor)])

    def fail(index, what):
        call = _describe_call(calls.get(index), names, model)
        step = trace.steps[index]
        cls = step.target
        workaround = (f"or register a converter with @minigrad.onnx.register_op({cls.__module__}.{cls.__name__})"
                      if step.kind == "primitive" else "")
        raise UnsupportedOperatorError(
            f"onnx.export: no ONNX mapping for {what} (called {call}) - rewrite that forward with ops that "
            f"export (minigrad.onnx.supported_ops() lists them){', ' + workaround if workaround else ''}")

    for index, step in enumerate(trace.steps):
        if step.output is None or step.output not in needed or kind.get(step.output, "const") == "const":
            if step.kind == "numpy" and step.output is None and any(
                    kind.get(s) == "dynamic" for s in _slots(step.args)):
                fail(index, f"numpy's in-place {getattr(step.target, '__name__', step.target)}")
            continue
        for slot in _step_inputs(step):
            if slot not in graph.names:
                graph.names[slot] = const_name(slot, index)
        names_in = [graph.names.get(s) for s in step.args] if step.kind == "primitive" else None
        if step.kind == "primitive":
            converter = _CONVERTERS.get(step.target)
            if converter is None:
                fail(index, f"primitive '{step.target.__name__}'")
            other = trace2.steps[index].kwargs
            geometry_like = "geometry" in (step.kwargs or {})
            if not geometry_like and step.target not in (_sh.Reshape, _sh.Expand, _sh.GetItem) and \
                    repr(other) != repr(step.kwargs):
                fail(index, f"primitive '{step.target.__name__}' with settings that change with the size of the "
                            f"dynamic axes ({step.kwargs} vs {other})")
            try:
                graph.names[step.output] = converter(graph, _Step(graph, step, names_in, trace2.steps[index]))
            except _Unsupported as error:
                fail(index, f"primitive '{step.target.__name__}': {error}")
            except _NotExpressible as error:
                fail(index, f"primitive '{step.target.__name__}' whose size {error.size} (and {error.size2} at "
                            "the other size) is not a multiple of a dynamic axis")
        elif step.kind == "numpy":
            describe = getattr(getattr(step.target, "__self__", None), "__name__", None) or \
                getattr(step.target, "__name__", repr(step.target))
            try:
                graph.names[step.output] = _numpy_step(graph, step, describe)
            except _Unsupported as error:
                fail(index, str(error))
        elif step.kind == "draw":
            fail(index, f"a random draw ({step.target.__name__}) in eval mode")

    # graph outputs
    if output_names is None:
        output_names = ["output"] if len(outputs) == 1 else [f"output{i}" for i in range(len(outputs))]
    output_names = list(output_names) + [f"output{i}" for i in range(len(output_names), len(outputs))]
    graph_outputs = []
    for name, template in zip(output_names, outputs):
        if type(template) not in (Slot, Plain):  # (a detached value is an output like any other)
            raise RuntimeError("onnx.export: the model returns a tensor it did not compute (an input or a "
                               "parameter as it is) - return a computed value")
        slot = template.index
        source = graph.names.get(slot)
        if source is None:
            source = const_name(slot)
        graph.nodes.append(h.make_node("Identity", [source], [name], name=f"{name}_identity"))
        value, value2 = np.asarray(env[slot]), np.asarray(env2[slot])
        axes = _axes_of(dynamic_axes.get(name, {}))
        dims = []
        for a, (n1, n2) in enumerate(zip(value.shape, value2.shape)):
            if a in axes:
                dims.append(axes[a] or f"{name}_dynamic_axes_{a}")
            elif n1 != n2:
                dims.append(next((axes_name for i, axes_ in longer.items() for ax, axes_name in axes_.items()
                                  if axes_name and args[i].shape[ax] == n1), None) or f"{name}_dim{a}")
            else:
                dims.append(n1)
        graph_outputs.append(h.make_tensor_value_info(name, h.np_dtype_to_tensor_dtype(value.dtype), dims))

    onnx_graph = h.make_graph(graph.nodes, type(model).__name__ if isinstance(model, Module) else "graph",
                              graph_inputs, graph_outputs, graph.initializers)
    opset_id = h.make_opsetid("", opset)
    proto = h.make_model(onnx_graph, opset_imports=[opset_id], producer_name="minigrad",
                         ir_version=h.find_min_ir_version_for([opset_id]))
    data = proto.SerializeToString()
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as file:
            file.write(data)
    else:
        f.write(data)
