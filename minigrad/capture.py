"""Capture and replay: `mg.compile(model)` runs a step's ops again without the per-op Python.

The first call with a new *signature* (input shapes, dtypes, requires_grad,
grad mode, each submodule's `training` flag, the identity and shape of every
parameter and buffer) runs eagerly while a `Tracer` records every primitive
that `Function.apply` runs, plus the numpy work the library does outside
primitives on recorded values (a dropout mask drawn from the generator, the
running statistics batch norm writes in place, the class indices cross-entropy
picks). The record is a `Trace`: a plain list of `Step`s over numbered slots.

Later calls with the same signature *replay* the trace: each primitive's own
`forward(ctx, *arrays, **settings)` runs on the slot arrays with a bare ctx
(no Tensor, no graph node per op), so the numpy calls are those of eager, in
the same order, and the results are bit-identical; data-dependent values
(relu masks, max-pool winners, dropout masks with the generator advanced as
eager would) are recomputed because forward runs again. The outputs are
attached to the eager graph as ONE node, whose VJP runs every replayed
primitive's VJP in reverse with the engine's own gradient store, so
`loss.backward()`, optimizers, gradient accumulation, parameter hooks and
`no_grad` evaluation work unchanged.

Refusals (the call then runs eagerly, with one warning saying why): Python
reading a recorded value (`bool(t)`, `.item()`, `.tolist()`, `float(t)`),
hooks or `retain_grad()` on intermediate tensors, numpy work on a recorded
value that the tracer cannot follow. A forward hook on a module the call runs
makes calls run eagerly while it is there (replays resume once it is removed).
Library checks on recorded arrays (an index range check, cross-entropy's "no counted target") become *guards*: replay
re-evaluates them, and a call where one comes out differently is captured
again, as a new signature would be (checks that change on every call end in
eager running after `cache_size` captures in a row, with a warning).

Limits: second-order gradients (`create_graph=True`) through a compiled call
are refused with an error - call the model uncompiled for those. Tensors the
function reads from a closure or global (not arguments, not module
parameters or buffers) are read by reference: in-place changes are seen, a
rebound name is not; one whose requires_grad, shape or dtype changed makes
the call captured again. Random numbers the function draws itself from Python's
`random` or numpy's global `np.random` (not from minigrad's generator) are
fixed at the capture's values, and so are arrays written by numpy functions
that fill their argument in place (`np.put_along_axis`, `np.put`) inside the
function: draw from `mg.rand*` and use minigrad ops there.
"""
from __future__ import annotations

import collections
import contextlib
import functools
import operator
import sys
import warnings
import weakref

import numpy as np

from . import anomaly, grad_mode, random as _random
from .engine import _GradientStore, _vjp, running_pass
from .function import Function, _capture_state, _next_sequence, _RELEASED
from .nn import Module
from .tensor import Tensor, _make

__all__ = ["compile", "Tracer", "Trace", "Step", "CompileWarning"]

_new = object.__new__
_state = _capture_state
_tensor_module = sys.modules[Tensor.__module__]  # (mg.tensor is the factory function)
_plain_view = functools.partial(np.ndarray.view, type=np.ndarray)


class CompileWarning(UserWarning):
    """mg.compile ran a call eagerly instead of replaying it (the message says why)."""


class _Refused(Exception):
    """A capture found something replay could not reproduce."""


class _GuardFailed(Exception):
    """A check a replay makes came out otherwise than at capture (its message says which, if not
    a library check on a recorded value)."""


_LIBRARY_CHECK = "a library check on the values came out differently"


class _HookAdded(Exception):
    """A module the capture called has a forward hook now: the call runs eagerly (no recapture)."""


# ---- the trace: a plain data structure (replay, drawing and export can all read it) ----------

class Slot:
    """A reference to slot `index` of a trace's environment (an array, or a constant)."""
    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index

    def __repr__(self):
        return f"%{self.index}"


class AsItCame:
    """In an output template: a tensor the call returned as it came in (an argument, a parameter).

    A class of its own, not a marked tuple, so that a tuple the user returns is never misread."""
    __slots__ = ("tensor",)

    def __init__(self, tensor):
        self.tensor = tensor


class Argument:
    """In an output template: the call's argument at `path` (of the flattened arguments), returned
    as it came in: each replay returns its own call's tensor, not the capture's."""
    __slots__ = ("path",)

    def __init__(self, path: int):
        self.path = path


class Plain:
    """In an output template: a tensor without history made on slot `index` outside a primitive
    (`x.detach()`, `x.data`): each replay makes a new one on that slot's array."""
    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


class NamedTupleOf:
    """In an output template: a namedtuple of class `cls` whose fields have the templates `parts`."""
    __slots__ = ("cls", "parts")

    def __init__(self, cls, parts: tuple):
        self.cls, self.parts = cls, parts


class Step:
    """One recorded operation.

    Attributes:
        kind: "primitive" (a Function subclass), "numpy" (a numpy function, ufunc
            or ndarray method on recorded values), "draw" (a call of the random
            generator) or "guard" (a truth value the library read: `expected`).
        target: the Function class, the callable, or the generator method name.
        args, kwargs: the inputs; `Slot`s stand for recorded values and may be
            nested inside tuples, lists and dicts (index tuples, `out=`).
        output: the slot receiving the result (None for in-place numpy calls).
        parents: (primitive steps recorded for autograd) one grad key per input:
            ("step", i) for the output of step i, ("input", slot) for a region input
            that requires grad, None for none.
        shape, dtype: of the output, at capture.
        expected: (guards) the truth value seen at capture.
    """
    __slots__ = ("kind", "target", "args", "kwargs", "output", "parents", "shape", "dtype", "expected")

    def __init__(self, kind, target, args, kwargs, output, parents=None, shape=None, dtype=None, expected=None):
        self.kind, self.target, self.args, self.kwargs, self.output = kind, target, args, kwargs, output
        self.parents, self.shape, self.dtype, self.expected = parents, shape, dtype, expected

    def __repr__(self):
        name = getattr(self.target, "__name__", self.target)
        return f"Step({self.kind} {name} {self.args} {self.kwargs} -> {self.output})"


class Trace:
    """What one captured call did.

    Attributes:
        steps: `Step`s in the order they ran.
        slot_count: size of the environment.
        constants: {slot: value} known at capture (arrays by reference, numbers, None).
        fresh: constant slots written in place during the call: replay copies them first.
        inputs: [(slot, path)] the call's argument tensors (path indexes the flattened args).
        externals: [(slot, tensor)] tensors read by reference at replay (parameters, buffers,
            closure tensors): slot = tensor.array.
        closure_state: [(tensor, requires_grad, shape, dtype)] of the externals the signature does
            not cover (closure tensors, not the module's), as the capture found them.
        modules_called: the modules whose __call__ ran (a forward hook added to one since makes
            the call run eagerly: a replay runs no module's Python).
        grad_inputs: [(slot, shape, dtype)] inputs/externals that received gradients in the
            captured graph.
        outputs: the returned structure, with `Slot`s for tensors made by the trace,
            `Argument(path)` for arguments and `AsItCame(t)` for other tensors returned as they
            came in, `Plain(slot)` for detached ones and `NamedTupleOf` for namedtuples.
    """

    def __init__(self):
        self.steps = []
        self.slot_count = 0
        self.constants = {}
        self.fresh = set()
        self.inputs = []
        self.externals = []
        self.closure_state = []
        self.modules_called = []
        self.grad_inputs = []
        self.outputs = None


# ---- recorded arrays --------------------------------------------------------------------------

class _Traced(np.ndarray):
    """A numpy array whose numpy operations the tracer records while it captures.

    Outside a capture (or inside a primitive's forward, where the tracer is
    paused) every operation computes on plain arrays and returns plain arrays.
    """
    _slot = None

    def __array_finalize__(self, obj):
        self._slot = None  # a view numpy made without asking us: not recorded

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        tracer = _state.tracer
        if tracer is None:
            return getattr(ufunc, method)(*_unwrap(inputs), **_unwrap(kwargs))
        return tracer.numpy_call(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        tracer = _state.tracer
        if tracer is None:
            return func(*_unwrap(args), **_unwrap(kwargs))
        return tracer.numpy_call(func, args, kwargs)

    def __bool__(self):
        tracer = _state.tracer
        value = bool(_plain_view(self))
        if tracer is not None:
            tracer.guard(self, value)
        return value

    def _read(self, name):
        tracer = _state.tracer
        if tracer is not None:
            tracer.refuse(f"Python read a value computed in the call ({name})")
        return getattr(np.ndarray, name)(_plain_view(self))

    def item(self, *args):
        tracer = _state.tracer
        if tracer is not None:
            tracer.refuse("Python read a value computed in the call (.item())")
        return np.ndarray.item(_plain_view(self), *args)

    def tolist(self):
        return self._read("tolist")

    def __float__(self):
        return self._read("__float__")

    def __int__(self):
        return self._read("__int__")

    def __index__(self):
        return self._read("__index__")


def _method(name):
    base = getattr(np.ndarray, name)
    call = _MethodCall(name)

    def method(self, *args, **kwargs):
        tracer = _state.tracer
        if tracer is None:
            return base(_plain_view(self), *_unwrap(args), **_unwrap(kwargs))
        return tracer.numpy_call(call, (self,) + args, kwargs)
    method.__name__ = name
    return method


class _MethodCall:
    """An ndarray method as a plain callable: _MethodCall('sum')(a, axis=0) is a.sum(axis=0)."""
    __slots__ = ("__name__",)

    def __init__(self, name):
        self.__name__ = name

    def __call__(self, array, *args, **kwargs):
        return getattr(np.ndarray, self.__name__)(np.asarray(array), *args, **kwargs)


class _Draw:
    """A call of the random generator's method `name`, made on the generator in use at replay."""
    __slots__ = ("__name__",)

    def __init__(self, name):
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        return getattr(_random.generator(), self.__name__)(*args, **kwargs)


for _name in ("__getitem__", "__setitem__", "astype", "copy", "reshape", "ravel", "flatten", "transpose",
              "squeeze", "swapaxes", "sum", "mean", "max", "min", "any", "all", "argmax", "argmin", "cumsum",
              "prod", "std", "var", "clip", "round", "nonzero", "argsort", "take", "repeat", "dot", "fill",
              "sort", "__copy__", "__deepcopy__"):
    setattr(_Traced, _name, _method(_name))
_Traced.T = property(lambda self: self.transpose())

_WRITING_METHODS = {"__setitem__", "fill", "sort"}


def _layout(array: np.ndarray) -> tuple:
    return (array.__array_interface__["data"][0], array.shape, array.strides, array.dtype.str)


def _unwrap(value):
    """value with every _Traced array replaced by a plain view (tuples, lists and dicts walked)."""
    if isinstance(value, _Traced):
        return _plain_view(value)
    if type(value) in (tuple, list):
        return type(value)(_unwrap(v) for v in value)
    if type(value) is dict:
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _resolve(value, env):
    """A template with its `Slot`s replaced by the environment's values."""
    kind = type(value)
    if kind is Slot:
        return env[value.index]
    if kind is tuple or kind is list:
        return kind(_resolve(v, env) for v in value)
    if kind is dict:
        return {k: _resolve(v, env) for k, v in value.items()}
    return value


def _slots(value) -> list:
    """The slot numbers of the Slots (and Plains) in a template (tuples, lists and dicts walked)."""
    if type(value) is Slot or type(value) is Plain:
        return [value.index]
    if type(value) in (tuple, list):
        return [slot for v in value for slot in _slots(v)]
    if type(value) is NamedTupleOf:
        return _slots(value.parts)
    if type(value) is dict:
        return [slot for v in value.values() for slot in _slots(v)]
    return []


# ---- the tracer ---------------------------------------------------------------------------------

class Tracer:
    """Records one call: every primitive `Function.apply` runs and the numpy work on recorded arrays.

    Use `capture(function, args, kwargs, module)`; it returns the call's (eager)
    result and the `Trace`, or the reason the call cannot be replayed.
    """

    def __init__(self):
        self.trace = Trace()
        self.reason = None           # why replay is refused (the first reason found)
        self._keep = []              # capture-time objects whose ids the maps below use
        self._slot_of_array = {}     # id(plain array) -> slot, for constants and externals
        self._grad_key_slot = {}     # id(grad key) -> slot of a region input that requires grad
        self._step_of_node = {}      # id(node made by a recorded step) -> step index
        self._external_tensors = {}  # id(tensor) -> slot
        self._swapped = []           # (tensor, original array): restored when capture ends
        self.side_effect = False     # a draw or a write happened (a guard after it is refused)
        self.late_guards = False     # (backward traces) writes only touch the call's own arrays
        self.strict = False          # (backward traces) an unknown array is refused, not taken as a constant
        self._by_layout = {}         # (address, shape, strides, dtype) -> slot of a recorded array
        self._owners = {}            # id(memory owner) -> owner, of every recorded array
        self._born = {}              # id(tensor) -> weakref, of every tensor made during the call
        self._born_values = {}       # slot of a tensor made during the call -> its value when first used

    # -- slots
    def _new_slot(self) -> int:
        self.trace.slot_count += 1
        return self.trace.slot_count - 1

    def _traced(self, array: np.ndarray, slot: int) -> _Traced:
        view = array.view(_Traced)
        view._slot = slot
        # numpy's own conversions (np.asarray(x, dtype=bool) of a recorded array) give plain views
        # whose .base skips our view: they are found again by their memory and layout
        self._by_layout[_layout(array)] = slot
        self._keep.append(array)  # alive while capturing: its address is not reused by another array
        owner = array if array.base is None else array.base
        self._owners[id(owner)] = owner
        return view

    def refuse(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def constant(self, value) -> int:
        slot = self._new_slot()
        self.trace.constants[slot] = value
        return slot

    def template(self, value):
        """value as a template: recorded arrays become their Slot, anything else stays (by reference)."""
        if isinstance(value, _Traced):
            if value._slot is None:
                self.refuse("numpy made a view of a recorded array that the tracer did not follow")
                return _plain_view(value)
            return Slot(value._slot)
        if isinstance(value, Tensor):
            return Slot(self.slot_of_tensor(value))
        if isinstance(value, np.ndarray):
            slot = self._check_plain(value)
            if slot is None and self.strict and value.ndim:
                self.refuse("an array of unknown origin")
            return value if slot is None else Slot(slot)
        if type(value) in (tuple, list):
            return type(value)(self.template(v) for v in value)
        if type(value) is dict:
            return {k: self.template(v) for k, v in value.items()}
        return value

    def _check_plain(self, array: np.ndarray):
        """The slot of a plain array that is a recorded array seen through np.asarray, else None
        (refused when it is some other view of recorded memory)."""
        slot = self._by_layout.get(_layout(array))
        if slot is not None:
            return slot
        owner = array if array.base is None else array.base
        if id(owner) in self._owners:
            self.refuse("numpy made a view of a recorded array that the tracer did not follow")
        return None

    def slot_of_tensor(self, tensor: Tensor) -> int:
        array = tensor.array
        if isinstance(array, _Traced):
            if array._slot is None:
                self.refuse("a tensor holds a view of a recorded array that the tracer did not follow")
                return self.constant(_plain_view(array))
            return array._slot
        slot = self._check_plain(array)
        if slot is not None:
            return slot
        if self.strict and array.ndim:
            self.refuse("a tensor of unknown origin")
        slot = self._external_tensors.get(id(tensor))
        if slot is None:  # made before the call (a closure tensor) or during it by a factory (zeros)
            born = self._born.get(id(tensor))
            if born is not None and born() is tensor:
                value = np.array(array, copy=True)
                slot = self._swap(tensor)
                self._born_values[slot] = value  # read by reference unless written or returned
            else:
                self.trace.closure_state.append((tensor, tensor._requires_grad, array.shape, array.dtype))
                slot = self._swap(tensor)
            self.trace.externals.append((slot, tensor))
        return slot

    def _renew(self, slot: int) -> None:
        """A tensor made during the call and then written or returned: each replay starts from a
        copy of its value when the call first used it (not the capture's tensor, which the capture
        left written, nor a tensor made before the call, whose writes must last)."""
        value = self._born_values.pop(slot, None)
        if value is not None:
            self.trace.constants[slot] = value
            self.trace.fresh.add(slot)

    def slot_of_value(self, value) -> int:
        """The slot of a primitive's positional input."""
        if isinstance(value, Tensor):
            return self.slot_of_tensor(value)
        if not isinstance(value, np.ndarray):
            return self.constant(value)
        found = self.template(value)
        if type(found) is Slot:
            return found.index
        slot = self._slot_of_array.get(id(found))
        if slot is None:  # an array the library made: a constant, one slot however often it is used
            slot = self._slot_of_array[id(found)] = self.constant(found)
            self._keep.append(found)
        return slot

    # -- what Function.apply reports
    def record(self, cls, args, kwargs):
        """Run `cls.apply(*args, **kwargs)` eagerly (the tracer paused) and record it as a step."""
        arg_slots = [self.slot_of_value(a) for a in args]
        settings = self.template(kwargs) if kwargs else {}
        # the op runs on plain arrays, as eagerly (forwards and _resolve_saved test `type(x) is np.ndarray`)
        lent = []
        for a in args:
            if isinstance(a, Tensor) and isinstance(a.array, _Traced):
                lent.append((a, a.array))
                a.array = _plain_view(a.array)
        plain_args = [_plain_view(a) if isinstance(a, _Traced) else a for a in args]
        _state.tracer = None
        try:
            out = Function.apply.__func__(cls, *plain_args, **_unwrap(kwargs))
        finally:
            _state.tracer = self
            for a, array in reversed(lent):
                a.array = array
        data = out.array
        slot = self._new_slot()
        self._swapped.append((out, data))
        out.array = self._traced(data, slot)
        index = len(self.trace.steps)
        parents = None
        if out._node is not None and out._node.parents is not None:
            node = out._node
            self._step_of_node[id(node)] = index
            self._keep.append(node)
            parents = []
            for i, parent in enumerate(node.parents):
                parents.append(None if parent is None else self._grad_key(parent, args[i], arg_slots[i]))
        self.trace.steps.append(Step("primitive", cls, arg_slots, settings, slot, parents,
                                     data.shape, data.dtype))
        return out

    def _grad_key(self, parent, arg, arg_slot):
        step = self._step_of_node.get(id(parent))
        if step is not None:
            return ("step", step)
        slot = self._grad_key_slot.get(id(parent))
        if slot is None:
            if not isinstance(arg, Tensor) or arg._requires_grad is False:
                self.refuse("an input's gradient could not be traced back to a tensor")
                return None
            if isinstance(parent, Tensor):  # a leaf: an argument, a parameter or a closure tensor
                slot = arg_slot
            else:  # made by eager ops before the call: only an argument can be one
                if not any(s == arg_slot for s, _ in self.trace.inputs):
                    self.refuse("the function reads a tensor that was computed (with a graph) outside it "
                                "and is not one of its arguments")
                    return None
                slot = arg_slot
            self._grad_key_slot[id(parent)] = slot
            self._keep.append(parent)
            self.trace.grad_inputs.append((slot, arg.array.shape, arg.array.dtype))
        return ("input", slot)

    # -- numpy work outside primitives
    def numpy_call(self, fn, args, kwargs):
        """Run numpy's `fn` on plain arrays and record it (results come back recorded)."""
        args_t, kwargs_t = self.template(list(args)), self.template(kwargs)
        _state.tracer = None
        try:
            result = fn(*_unwrap(args), **_unwrap(kwargs))
        finally:
            _state.tracer = self
        is_draw = type(fn) is _Draw
        if is_draw:
            self.side_effect = True
        out_arg = kwargs.get("out")
        writes = ((out_arg is not None) or fn is np.copyto or
                  (type(fn) is _MethodCall and fn.__name__ in _WRITING_METHODS) or
                  getattr(fn, "__name__", "") == "at")
        if writes:
            self.side_effect = True
            self.trace.steps.append(Step("numpy", fn, args_t, kwargs_t, None))
            if out_arg is not None:
                return out_arg[0] if isinstance(out_arg, tuple) and len(out_arg) == 1 else out_arg
            return result
        if isinstance(result, (np.ndarray, np.generic)):
            slot = self._new_slot()
            self.trace.steps.append(Step("draw" if is_draw else "numpy", fn, args_t, kwargs_t, slot))
            return self._traced(np.asarray(result), slot) if isinstance(result, np.generic) \
                else self._traced(result, slot)
        if type(result) in (tuple, list) and any(isinstance(r, np.ndarray) for r in result):
            slot = self._new_slot()
            self.trace.steps.append(Step("numpy", fn, args_t, kwargs_t, slot))
            parts = []
            for i, part in enumerate(result):
                part_slot = self._new_slot()
                self.trace.steps.append(Step("numpy", operator.getitem, [Slot(slot), i], {}, part_slot))
                parts.append(self._traced(np.asarray(part), part_slot) if isinstance(part, (np.ndarray, np.generic))
                             else part)
            return type(result)(parts)
        if is_draw and result is not None:
            self.refuse(f"a random Python number was drawn (generator().{fn.__name__}())")
        return result

    def guard(self, traced: _Traced, value: bool) -> None:
        if traced._slot is None:
            self.refuse("Python read the truth value of an array the tracer did not follow")
            return
        if self.side_effect and not self.late_guards:
            self.refuse("a library check read a recorded value after a random draw or an in-place write")
            return
        self.trace.steps.append(Step("guard", bool, [Slot(traced._slot)], {}, None, expected=value))

    def writable(self, tensor: Tensor, array: np.ndarray):
        """The array to write into for `tensor._writing()` while capturing: a recorded view."""
        if isinstance(array, _Traced):
            if array._slot is None:
                self.refuse("an in-place write into a view the tracer did not follow")
            else:
                self._renew(array._slot)
            return array
        # a tensor made before the call (a module's buffer, a closure tensor) is written by reference
        self._renew(self.slot_of_tensor(tensor))
        return tensor.array

    # -- one call
    def capture(self, function, args, kwargs, module=None):
        """Run `function(*args, **kwargs)` eagerly while recording it.

        Returns:
            (result, trace or None); with None, `self.reason` says why.
        """
        trace = self.trace
        flat = self._flat = _flatten((args, kwargs))
        for path, value in enumerate(flat):
            if isinstance(value, Tensor) and id(value) not in self._external_tensors:
                trace.inputs.append((self._swap(value), path))
        if module is not None:
            for tensor in list(module.parameters()) + [b for b in module.buffers() if b is not None]:
                if id(tensor) not in self._external_tensors:
                    trace.externals.append((self._swap(tensor), tensor))
        real_generator = _random.generator()
        _random._state.generator = _RecordingGenerator(real_generator)
        patches = _patch_tensor()
        Module.__call__ = _module_call_while_capturing
        born = self._born

        def new(cls):  # every tensor is made by tensor._make, which calls tensor._new first
            made = _new(cls)
            if _state.tracer is self:  # (not a tensor another thread makes meanwhile)
                born[id(made)] = weakref.ref(made)
            return made
        _tensor_module._new = new
        _state.tracer = self
        try:
            result = function(*args, **kwargs)
            trace.outputs = self._output_template(result)
        finally:
            _state.tracer = None
            _tensor_module._new = _new
            _random._state.generator = real_generator
            _unpatch_tensor(patches)
            Module.__call__ = _ORIGINAL_MODULE_CALL
            for tensor, array in reversed(self._swapped):
                if isinstance(tensor.array, _Traced):
                    tensor.array = array if tensor.array.base is array else _plain_view(tensor.array)
        _plain_outputs(result)
        self._keep.clear()
        return result, (trace if self.reason is None else None)

    def _swap(self, tensor: Tensor) -> int:
        """A new slot for a tensor the call reads by reference; its array becomes a recorded view
        until the capture ends."""
        slot = self._new_slot()
        self._external_tensors[id(tensor)] = slot
        self._keep.append(tensor)
        self._swapped.append((tensor, tensor.array))
        tensor.array = self._traced(tensor.array, slot)
        return slot

    def _output_template(self, result):
        if isinstance(result, Tensor):
            born = self._born.get(id(result))
            if born is not None and born() is result and not isinstance(result.array, _Traced):
                self.slot_of_tensor(result)  # made during the call and not used since: returned below
            array = result.array
            if isinstance(array, _Traced) and array._slot is not None:
                slot = array._slot
                for input_slot, path in self.trace.inputs:
                    if input_slot == slot and self._flat[path] is result:
                        return Argument(path)  # the replay's own argument, not the capture's
                step = self._step_of_node.get(id(result._node)) if result._node is not None else None
                if step is not None:
                    return self._rebased(array, self.trace.steps[step])
                made = [s for s in self.trace.steps if s.output == slot and s.kind == "primitive"]
                if made and made[0].parents is None:
                    return Slot(slot)
                if slot in self._born_values or slot in self.trace.fresh:
                    if result._requires_grad:
                        self.refuse("the function returned a leaf tensor it made that requires grad")
                    self._renew(slot)  # mg.zeros(3) made in the call: a new one each replay
                    return Plain(slot)
                if made or not any(t is result for _, t in self.trace.externals):
                    # x.detach() (of an argument or a result) made in the call: a new tensor each replay
                    return Plain(slot)
            return AsItCame(result)
        if type(result) in (tuple, list):
            return type(result)(self._output_template(r) for r in result)
        if isinstance(result, tuple) and hasattr(result, "_fields"):  # namedtuple
            return NamedTupleOf(type(result), tuple(self._output_template(r) for r in result))
        if type(result) is dict:
            return {k: self._output_template(v) for k, v in result.items()}
        if isinstance(result, (np.ndarray,)):
            self.refuse("the function returned a numpy array")
        return result

    def _rebased(self, array: _Traced, step: Step):
        """The template of a returned tensor on recorded `array` whose history is `step`'s: after
        y.mul_(3), y's memory is that of the op that made y first, its gradient goes to the mul."""
        slot = array._slot
        if step.output != slot:
            # _inplace copied the op's result into the memory: it is the output, if nothing wrote since
            last = [s for s in self.trace.steps if s.output is None and slot in _slots([s.args, s.kwargs])]
            if (not last or last[-1].target is not np.copyto
                    or [a.index if type(a) is Slot else a for a in last[-1].args] != [slot, step.output]
                    or step.shape != array.shape or step.dtype != array.dtype):
                self.refuse("the function returned a tensor written in place in a way the tracer did not follow")
        return Slot(step.output)


class _RecordingGenerator:
    """Stands in for minigrad's random generator while capturing: draws are recorded as steps."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        attribute = getattr(self._real, name)
        if not callable(attribute) or name.startswith("_"):
            return attribute
        draw = _Draw(name)

        def recorded(*args, **kwargs):
            tracer = _state.tracer
            if tracer is None:
                return attribute(*args, **kwargs)
            return tracer.numpy_call(draw, args, kwargs)
        return recorded


# ---- Tensor methods that read values or attach per-tensor state: watched while capturing --------

_ORIGINAL_WRITING = Tensor._writing
@contextlib.contextmanager
def _writing_while_capturing(self, op: str = "in-place write"):
    tracer = _state.tracer
    with _ORIGINAL_WRITING(self, op) as array:
        yield array if tracer is None else tracer.writable(self, array)


def _refusing(name, original):
    def method(self, *args, **kwargs):
        tracer = _state.tracer
        if tracer is not None:
            tracer.refuse(f"{name} was called on a tensor inside the compiled call")
        return original(self, *args, **kwargs)
    return method


def _touching(original):
    """`t.detach()` or `t.data` with t first known to the tracer: the new tensor made on t's memory
    is then found as t's (not taken for one made during the call, whose writes would not last)."""
    def method(self, *args, **kwargs):
        tracer = _state.tracer
        if tracer is not None and not isinstance(self.array, _Traced):
            tracer.slot_of_tensor(self)
        return original(self, *args, **kwargs)
    return method


def _patch_tensor():
    originals = {name: Tensor.__dict__[name]
                 for name in ("_writing", "__bool__", "register_hook", "retain_grad", "detach", "data")}
    Tensor.detach = _touching(originals["detach"])
    Tensor.data = property(_touching(originals["data"].fget), originals["data"].fset, doc=originals["data"].__doc__)
    Tensor._writing = _writing_while_capturing
    Tensor.__bool__ = _refusing("bool() (Python control flow on a tensor value)", originals["__bool__"])
    Tensor.register_hook = _refusing("register_hook", originals["register_hook"])
    Tensor.retain_grad = _refusing("retain_grad", originals["retain_grad"])
    return originals


def _unpatch_tensor(originals):
    for name, value in originals.items():
        setattr(Tensor, name, value)


_ORIGINAL_MODULE_CALL = Module.__call__


def _module_call_while_capturing(self, *args, **kwargs):
    """Module.__call__ while capturing: every module called is noted, for mg.compile's check of
    forward hooks (drawing and export trace a hook's ops as the call's own)."""
    tracer = _state.tracer
    if tracer is not None and not any(module is self for module in tracer.trace.modules_called):
        tracer.trace.modules_called.append(self)
    return _ORIGINAL_MODULE_CALL(self, *args, **kwargs)


def _hooked(modules):
    """The first of `modules` with a forward hook, or None. A hook is Python each call runs (and
    may keep activations): a replay would run none of it, so mg.compile runs such calls eagerly."""
    return next((m for m in modules if m._forward_hooks or m._forward_pre_hooks), None)


def _flatten(value, structure=None):
    """The leaves of nested tuples/lists/dicts, in order, and nothing else; with `structure` (a
    list), each container's kind and length, or a dict's keys, are appended to it."""
    out = []

    def walk(v):
        if type(v) in (tuple, list):
            if structure is not None:
                structure.append((type(v), len(v)))
            for x in v:
                walk(x)
        elif type(v) is dict:
            if structure is not None:
                structure.append(tuple(v))
            for x in v.values():
                walk(x)
        else:
            out.append(v)
    walk(value)
    return out


def _plain_outputs(value):
    if isinstance(value, Tensor):
        if isinstance(value.array, _Traced):
            value.array = _plain_view(value.array)
    elif isinstance(value, (tuple, list)):
        for v in value:
            _plain_outputs(v)
    elif isinstance(value, dict):
        for v in value.values():
            _plain_outputs(v)


# ---- replay -------------------------------------------------------------------------------------

class _Key:
    """A grad key of the replayed graph: what the engine's gradient store needs to know of a value."""
    __slots__ = ("out_shape", "out_dtype")

    def __init__(self, shape, dtype):
        self.out_shape, self.out_dtype = shape, dtype


_PRIMITIVE, _NUMPY, _GUARD = 0, 1, 2


class _Prepared:
    """What the forward plan and the recorded backward share: a trace's environment with its
    constants placed, the tensors read at each run, the constants written in place."""

    def __init__(self, trace: Trace):
        self.trace = trace
        env = [None] * trace.slot_count
        for slot, value in trace.constants.items():
            env[slot] = value
        self.env = env
        self.externals = [(slot, tensor) for slot, tensor in trace.externals if slot not in trace.fresh]
        self.fresh = [(slot, trace.constants[slot]) for slot in trace.fresh]

    def _environment(self) -> list:
        """A fresh environment for one run: the constants, the tensors' arrays as they are now."""
        env = self.env.copy()
        for slot, tensor in self.externals:
            env[slot] = tensor.array
        for slot, value in self.fresh:
            env[slot] = value.copy()
        return env


class _Plan(_Prepared):
    """A trace made ready to replay: constants placed, grad keys made, steps as flat tuples."""

    def __init__(self, trace: Trace):
        super().__init__(trace)
        self.inputs = trace.inputs
        self.input_keys = {slot: _Key(shape, dtype) for slot, shape, dtype in trace.grad_inputs}
        grad_keys = []     # one per primitive that feeds a gradient; its ctx's place in ctxs is the key's
        key_of_step = {}   # step index -> its grad key
        ops = []
        for index, step in enumerate(trace.steps):
            if step.kind == "primitive":
                grad_index = None
                if step.parents is not None:
                    grad_index = len(grad_keys)
                    key_of_step[index] = _Key(step.shape, step.dtype)
                    grad_keys.append(key_of_step[index])
                    parents = [None if p is None else
                               key_of_step[p[1]] if p[0] == "step" else self.input_keys[p[1]]
                               for p in step.parents]
                else:
                    parents = [None] * len(step.args)
                ops.append(_primitive_op(step, parents, grad_index))
            else:
                ops.append(_numpy_op(step))
        out_slots = _slots(trace.outputs)
        self.ops = _fast_ops(_with_frees(ops, set(out_slots)))
        self.grad_keys = grad_keys
        self.slot_key = {trace.steps[i].output: key for i, key in key_of_step.items()}
        self.output_template = trace.outputs
        self.grad_input_slots = [slot for slot, _, _ in trace.grad_inputs]
        external_of = {slot: tensor for slot, tensor in trace.externals}
        input_path = dict(trace.inputs)
        # where each grad input's tensor is found at replay: ("arg", path) or ("tensor", t)
        self.grad_sources = [("arg", input_path[slot]) if slot in input_path else ("tensor", external_of[slot])
                             for slot in self.grad_input_slots]
        self.differentiable_outputs = [s for s in _slots(_without_plain(trace.outputs)) if s in self.slot_key]
        self.backward_plan = None     # the flat backward, recorded by the first backward
        self.backward_traced = False
        self.closure_state = trace.closure_state
        self.modules_called = trace.modules_called

    def replay(self, flat):
        # the signature covers the arguments and the module's tensors, not closure tensors: one
        # unfrozen since the capture would get no gradient, a reshaped one the capture's shapes
        for tensor, requires_grad, shape, dtype in self.closure_state:
            array = tensor.array
            if tensor._requires_grad is not requires_grad or array.shape != shape or array.dtype != dtype:
                raise _GuardFailed("a tensor read from the closure changed its requires_grad, shape or dtype")
        hooked = _hooked(self.modules_called)
        if hooked is not None:
            raise _HookAdded(type(hooked).__name__)
        env = self._environment()
        for slot, path in self.inputs:
            env[slot] = flat[path].array
        recording = grad_mode._state.enabled and bool(self.differentiable_outputs)
        ctxs = [None] * len(self.grad_keys) if recording else None
        _execute(self.ops, env, ctxs, recording)
        return self._outputs(flat, env, ctxs)


    def _outputs(self, flat, env, ctxs):
        if ctxs is None:
            return _build_outputs(self.output_template, env, {}, flat)
        region = _new(_Region)
        region.plan, region.ctxs = self, ctxs
        parents = []
        for kind, source in self.grad_sources:
            tensor = flat[source] if kind == "arg" else source
            parents.append((tensor._node if tensor._node is not None else tensor) if tensor._requires_grad else None)
        region.parents = parents
        region.sequence = _next_sequence()
        made = {}
        outputs = self.differentiable_outputs
        if len(set(outputs)) == 1:
            data = env[outputs[0]]
            region.out_shape, region.out_dtype = data.shape, data.dtype
            region.spans = None
            made[outputs[0]] = _make(data, True, region)
        else:
            # each output's node hands its gradient to the region (no flat buffer to copy them into,
            # alive through the whole backward) and sends it a 0-d zero so that the engine runs it
            spans = []
            for slot in dict.fromkeys(outputs):
                data = env[slot]
                node = _new(_RegionOutput)
                node.parents = [region]
                node.position = len(spans)
                node.sequence = _next_sequence()
                node.out_shape, node.out_dtype = data.shape, data.dtype
                spans.append((slot, data.shape, data.dtype))
                made[slot] = _make(data, True, node)
            region.spans = spans
            region.pending = [None] * len(spans)
            region.out_shape, region.out_dtype = (), np.dtype(np.float32)
        return _build_outputs(self.output_template, env, made, flat)


def _primitive_op(step: Step, parents: list, grad_index) -> tuple:
    """A primitive step as an op tuple; `grad_index` is where its ctx goes (None: it feeds no gradient)."""
    return (_PRIMITIVE, step.target, step.args, step.kwargs, bool(_slots(step.kwargs)), step.output, parents,
            grad_index)


def _numpy_op(step: Step) -> tuple:
    """A numpy (or draw, or guard) step as an op tuple. When its slots are all top-level arguments,
    `args` is [(position, slot)] and `parents` the argument list with the constants in place."""
    if step.kind == "guard":
        return (_GUARD, None, step.args[0].index, None, False, None, None, step.expected)
    args = step.args
    if all(type(a) is Slot or not _slots(a) for a in args):
        slots = [(position, a.index) for position, a in enumerate(args) if type(a) is Slot]
        constants = [None if type(a) is Slot else a for a in args]
        return (_NUMPY, step.target, slots, step.kwargs, True, step.output, constants, bool(_slots(step.kwargs)))
    return (_NUMPY, step.target, args, step.kwargs, False, step.output, None, None)


def _with_frees(ops, keep) -> list:
    """ops with, on each, the slots whose last use it is: replay drops them at once, so an
    intermediate lives as long as it does eagerly (not to the end of the plan)."""
    last = {}
    for index, op in enumerate(ops):
        kind, args, kwargs = op[0], op[2], op[3]
        if kind == _GUARD:
            used = [args]
        elif kind == _NUMPY and op[4]:
            used = [index for _, index in args] + _slots(kwargs)
        else:
            used = (list(args) if kind == _PRIMITIVE else _slots(args)) + _slots(kwargs)
        for slot in used:
            last[slot] = index
        if op[5] is not None:
            last.setdefault(op[5], index)  # an output nothing reads is dropped after its step
    frees = [[] for _ in ops]
    for slot, index in last.items():
        if slot not in keep:
            frees[index].append(slot)
    return [op + (tuple(free),) for op, free in zip(ops, frees)]


def _basic_slices(index) -> bool:
    """Does `array[index]` give a view of every array it is applied to (slices and ... only)?"""
    if type(index) is slice or index is Ellipsis:
        return True
    return type(index) is tuple and all(type(i) is slice or i is Ellipsis for i in index)


def _without_self_copies(ops) -> list:
    """ops without the last step of `v = buf[s]; np.add(v, g, out=(v,)); buf[s] = v` (the
    engine's `buffer[index] += grad`): with `s` made of slices, v is a view of buf and the
    assignment copies it onto itself, a no-op."""
    getitem, setitem = _MethodCall("__getitem__"), _MethodCall("__setitem__")
    kept = []
    for index, op in enumerate(ops):
        if (index >= 2 and op[0] == _NUMPY and op[4] and type(op[1]) is _MethodCall
                and op[1].__name__ == setitem.__name__ and len(op[2]) == 2 and op[2][0][0] == 0
                and op[2][1][0] == 2 and not op[3]):
            buffer, view = op[2][0][1], op[2][1][1]
            read, add = ops[index - 2], ops[index - 1]
            if (read[0] == _NUMPY and read[4] and type(read[1]) is _MethodCall
                    and read[1].__name__ == getitem.__name__ and read[2] == [(0, buffer)] and read[5] == view
                    and not read[3] and len(read[6]) == 2 and _basic_slices(read[6][1])
                    and len(op[6]) == 3 and op[6][1] == read[6][1]
                    and add[0] == _NUMPY and add[4] and add[5] is None
                    and getattr(add[1], "__self__", None) is np.add and add[2][:1] == [(0, view)]
                    and _out_slot(add[3]) == view):
                continue
        kept.append(op)
    return kept


def _out_slot(kwargs):
    out = kwargs.get("out") if type(kwargs) is dict else None
    if type(out) is tuple and len(out) == 1 and type(out[0]) is Slot:
        return out[0].index
    return None


# op kinds of a plan made ready to run (_fast_ops): primitives with 1, 2 or 3 arrays and fixed
# settings call their forward without building an argument list; numpy calls with top-level
# slots fill a prepared list, `out=(slot,)` settings a prepared dict
_PRIM1, _PRIM2, _PRIM3, _NUMPY_FLAT = 3, 4, 5, 6


def _fast_ops(ops) -> list:
    """ops (as _with_frees gives them) specialised for `_execute`."""
    fast = []
    for op in ops:
        kind, target, args, kwargs, dynamic, out, parents, extra, frees = op
        if kind == _PRIMITIVE and not dynamic and not target.forward_on_tensors and 1 <= len(args) <= 3:
            fast.append(((_PRIM1, _PRIM2, _PRIM3)[len(args) - 1], target, tuple(args), kwargs or None,
                         target.forward, out, parents, extra, frees))
        elif kind == _NUMPY and dynamic:
            if extra:  # slots in the settings: only `key=slot` and `key=(slot,)` are filled without a walk
                fills = []
                for key, value in kwargs.items():
                    if type(value) is Slot:
                        fills.append((key, value.index, False))
                    elif type(value) is tuple and len(value) == 1 and type(value[0]) is Slot:
                        fills.append((key, value[0].index, True))
                    elif _slots(value):
                        fills = None
                        break
                if fills is None:
                    fast.append(op)
                    continue
                fixed = {k: v for k, v in kwargs.items() if not any(k == f[0] for f in fills)}
            else:
                fills, fixed = (), kwargs
            if type(target) is _MethodCall and args and args[0][0] == 0:
                # the array whose method it is is a slot (an ndarray at replay): call numpy's method itself
                target = getattr(np.ndarray, target.__name__)
            elif getattr(target, "__name__", None) == "__call__" and isinstance(
                    getattr(target, "__self__", None), np.ufunc):
                target = target.__self__
            fast.append((_NUMPY_FLAT, target, tuple(args), fixed, tuple(fills), out, parents, None, frees))
        else:
            fast.append(op)
    return fast


def _execute(ops, env, ctxs, recording):
    """Run a plan's steps over `env`; primitives that feed a gradient leave their ctx in `ctxs`.

    Saved values stay as forward saved them, bare arrays: the recorded backward reads them so;
    `_Region.backward` wraps them as tensors when a VJP must run eagerly.
    """
    new = _new
    ndarray = np.ndarray
    for kind, target, args, kwargs, dynamic, out, parents, extra, frees in ops:
        if kind == _PRIM2:
            ctx = new(target)
            ctx.parents = parents
            if kwargs is None:
                data = dynamic(ctx, env[args[0]], env[args[1]])
            else:
                data = dynamic(ctx, env[args[0]], env[args[1]], **kwargs)
        elif kind == _PRIM1:
            ctx = new(target)
            ctx.parents = parents
            if kwargs is None:
                data = dynamic(ctx, env[args[0]])
            else:
                data = dynamic(ctx, env[args[0]], **kwargs)
        elif kind == _NUMPY_FLAT:
            values = list(parents)
            for position, index in args:
                values[position] = env[index]
            if dynamic:
                kwargs = kwargs.copy()
                for key, index, wrap in dynamic:
                    kwargs[key] = (env[index],) if wrap else env[index]
            result = target(*values, **kwargs)
            if out is not None:
                # capture handed numpy's scalars on as 0-d arrays: so does replay
                env[out] = np.asarray(result) if isinstance(result, np.generic) else result
            for slot in frees:
                env[slot] = None
            continue
        elif kind == _PRIM3:
            ctx = new(target)
            ctx.parents = parents
            if kwargs is None:
                data = dynamic(ctx, env[args[0]], env[args[1]], env[args[2]])
            else:
                data = dynamic(ctx, env[args[0]], env[args[1]], env[args[2]], **kwargs)
        elif kind == _PRIMITIVE:
            ctx = new(target)
            ctx.parents = parents
            if dynamic:
                kwargs = _resolve(kwargs, env)
            if target.forward_on_tensors:
                data = target._forward_with_tensors(
                    ctx, [_make(env[i]) if isinstance(env[i], ndarray) else env[i] for i in args], kwargs)
            else:
                data = target.forward(ctx, *[env[i] for i in args], **kwargs)
        elif kind == _NUMPY:
            result = target(*_resolve(args, env), **_resolve(kwargs, env))
            if out is not None:
                env[out] = np.asarray(result) if isinstance(result, np.generic) else result
            for slot in frees:
                env[slot] = None
            continue
        else:
            if bool(env[args]) != extra:
                raise _GuardFailed
            for slot in frees:
                env[slot] = None
            continue
        if type(data) is not ndarray:
            raw, data = data, np.asarray(data)
            if ctx.saved:
                ctx.saved = tuple(data if value is raw else value for value in ctx.saved)
        env[out] = data
        if extra is not None and recording:
            if kwargs:
                ctx.attributes = kwargs
            ctx.out_shape = data.shape
            ctx.out_dtype = data.dtype
            ctxs[extra] = ctx
        for slot in frees:
            env[slot] = None


def _build_outputs(template, env, made, flat):
    kind = type(template)
    if kind is Slot:
        tensor = made.get(template.index)
        return tensor if tensor is not None else _make(env[template.index])
    if kind is Plain:
        return _make(env[template.index])
    if kind is Argument:
        return flat[template.path]
    if kind is AsItCame:
        return template.tensor
    if kind is NamedTupleOf:
        return template.cls(*[_build_outputs(t, env, made, flat) for t in template.parts])
    if kind in (tuple, list):
        return kind(_build_outputs(t, env, made, flat) for t in template)
    if kind is dict:
        return {k: _build_outputs(v, env, made, flat) for k, v in template.items()}
    return template


def _without_plain(template):
    """A template with its Plains left out (they carry no gradient)."""
    kind = type(template)
    if kind is Plain:
        return None
    if kind is NamedTupleOf:
        return _without_plain(template.parts)
    if kind in (tuple, list):
        return kind(_without_plain(t) for t in template)
    if kind is dict:
        return {k: _without_plain(v) for k, v in template.items()}
    return template


class _Region(Function):
    """The one graph node of a replayed call: its VJP runs the replayed primitives' VJPs in reverse.

    The first backward of a plan runs them one by one (each VJP's own minigrad ops) while a
    tracer records it; later backwards replay that record, a flat list of numpy calls, when
    the ctx values it read are laid out the same (else they run the VJPs again, one by one).
    """

    @staticmethod
    def backward(region, grad):
        if grad_mode._state.enabled:
            raise RuntimeError("compile: backward(create_graph=True) through a compiled call is not supported - "
                               "the replay keeps arrays, not a differentiable graph; call the model "
                               "uncompiled (model._orig_mod) where second derivatives are needed")
        ctxs = region.ctxs
        if ctxs is _RELEASED:
            raise RuntimeError("compile: trying to backward through a compiled call a second time, but its "
                               "saved values were freed by the first backward - call backward(retain_graph=True) "
                               "the first time if you need to backward twice")
        plan = region.plan
        seeds = _seeds(region, grad)
        flat = plan.backward_plan
        wrapped = region.wrapped
        release = not running_pass.retain_graph
        if flat is not None:
            try:
                return flat.run(ctxs, seeds, region.parents, wrapped, release)
            except _GuardFailed:
                pass
        if not wrapped:
            # replay leaves each ctx's saved values bare arrays; the VJPs' saved_tensors give tensors
            region.wrapped = True
            for ctx in ctxs:
                if ctx is not None and ctx.saved:
                    ctx.saved = tuple(_make(np.asarray(value)) if isinstance(value, (np.ndarray, np.generic))
                                      else value for value in ctx.saved)
        if flat is None and not plan.backward_traced:
            plan.backward_traced = True
            return _trace_backward(region, seeds)
        return _run_vjps(region, seeds, _GradientStore(False), release)

    def release(self) -> None:
        self.ctxs = _RELEASED

    saved = (True,)  # the engine releases a node's saved values only when it has some
    wrapped = False


def _seeds(region, grad) -> list:
    """The gradient of each differentiable output of the call (zeros for one that received none)."""
    if region.spans is None:
        return [grad]
    pending, region.pending = region.pending, [None] * len(region.spans)  # the next pass starts empty
    return [_make(np.zeros(shape, dtype)) if seed is None else seed
            for seed, (_, shape, dtype) in zip(pending, region.spans)]


def _run_vjps(region, seeds, store, release=False):
    """Each replayed primitive's VJP, newest first, summed as the engine sums them; with `release`
    (no retain_graph) each ctx is dropped after its VJP, as the engine releases a node."""
    plan, ctxs = region.plan, region.ctxs
    values = store.values
    outputs = plan.differentiable_outputs if region.spans is None else [slot for slot, *_ in region.spans]
    for slot, seed in zip(outputs, seeds):
        store.seed(plan.slot_key[slot], seed)
    keys = plan.grad_keys
    for index in range(len(keys) - 1, -1, -1):
        key = keys[index]
        if id(key) not in values:
            continue
        ctx = ctxs[index]
        node_grad, owned = store.pop(key)
        input_grads = _vjp(ctx, node_grad, False)
        for parent, input_grad in zip(ctx.parents, input_grads):
            if parent is not None and input_grad is not None:
                store.receive(ctx, parent, input_grad, node_grad, owned, input_grads)
        if release:
            ctxs[index] = None
    result = []
    for slot, parent in zip(plan.grad_input_slots, region.parents):
        key = id(plan.input_keys[slot])
        grad = values.get(key) if parent is not None else None
        if grad is not None and key not in store.owned:
            # the engine judges the region's results against the region's gradient only, so it would
            # let a leaf keep (and later sum into) another output's seed or a tensor a user Function
            # keeps: one the store here does not own is copied (under a tracer, so replays copy too)
            grad = _make(grad.array.copy())
        result.append(grad)
    return tuple(result)


class _TracingStore(_GradientStore):
    """The engine's gradient store, with the buffers it makes itself recorded by the tracer."""

    def __init__(self, tracer):
        super().__init__(False)
        self.tracer = tracer

    def _add(self, k, current, grad):
        if not isinstance(current.array, _Traced):
            self.tracer.refuse("a gradient sum into an array the tracer does not follow")
        if k in self.owned and current.array.shape == grad.array.shape:
            np.add(current.array, grad.array, out=current.array, casting="unsafe")
        else:
            self.values[k] = _make(current.array + grad.array)
            self.owned.add(k)

    def _scatter(self, k, current, grad, shape, dtype):
        if current is None or k not in self.owned:
            if current is None:
                buffer = self.tracer.numpy_call(np.zeros, (shape, dtype), {})
            else:
                buffer = current.array.astype(dtype, copy=True)
            current = self.values[k] = _make(buffer)
            self.owned.add(k)
        grad.add_into(current.array)


_CTX_FIELDS = frozenset(("parents", "saved", "attributes", "out_shape", "out_dtype"))


def _trace_backward(region, seeds):
    """Run the region's VJPs once with a tracer on; keep the record as the plan's flat backward."""
    plan, ctxs = region.plan, region.ctxs
    tracer = Tracer()
    tracer.late_guards = tracer.strict = True
    fetch, checks = [], []

    def wrap(value, getter):
        if isinstance(value, np.generic):
            value = np.asarray(value)
        if isinstance(value, np.ndarray):
            slot = tracer._new_slot()
            fetch.append((slot, getter))
            return tracer._traced(value, slot)
        if type(value) in (tuple, list) and any(isinstance(v, (np.ndarray, np.generic)) for v in value):
            return type(value)(wrap(v, getter + (i,)) for i, v in enumerate(value))
        return value

    for index, ctx in enumerate(ctxs):
        if ctx is None:
            continue
        if ctx.saved:
            ctx.saved = tuple(_make(wrap(value.array, ("saved", index, j))) if isinstance(value, Tensor)
                              else value for j, value in enumerate(ctx.saved))
        if ctx.attributes:
            ctx.attributes = {k: wrap(v, ("kw", index, k)) for k, v in ctx.attributes.items()}
        for name, value in list(ctx.__dict__.items()):
            if name in _CTX_FIELDS:
                continue
            wrapped = wrap(value, ("attr", index, name))
            if wrapped is value:
                checks.append((index, name, value))
            else:
                setattr(ctx, name, wrapped)
    traced_seeds = [_make(wrap(seed.array, ("seed", i))) for i, seed in enumerate(seeds)]
    _state.tracer = tracer
    try:
        grads = _run_vjps(region, traced_seeds, _TracingStore(tracer))
    finally:
        _state.tracer = None
    results = []
    for g in grads:
        if g is None:
            results.append(None)
            continue
        slot = g.array._slot if isinstance(g.array, _Traced) else tracer._check_plain(g.array)
        if slot is None:
            tracer.refuse("a gradient the tracer did not follow")
        results.append(slot)
    if tracer.reason is None:
        plan.backward_plan = _BackwardPlan(tracer.trace, fetch, checks, results)
    return tuple(None if g is None else _make(_plain_view(g.array)) if isinstance(g.array, _Traced) else g
                 for g in grads)


def _fetch(getter, ctxs, seeds, wrapped):
    kind = getter[0]
    if kind == "seed":
        return seeds[getter[1]].array
    ctx = ctxs[getter[1]]
    if kind == "saved":
        value = ctx.saved[getter[2]]
        if wrapped and isinstance(value, Tensor):  # wrapped for an eager backward
            value = _plain_view(value.array)
    elif kind == "attr":
        value = ctx.__dict__[getter[2]]
    else:
        value = ctx.attributes[getter[2]]
    for step in getter[3:]:
        value = value[step]
    return value


class _BackwardPlan(_Prepared):
    """A recorded backward: the VJPs' numpy calls over the values the forward's ctxs hold."""

    def __init__(self, trace: Trace, fetch, checks, results):
        super().__init__(trace)
        self.checks, self.results = checks, results
        ops = []
        for step in trace.steps:
            if step.kind == "primitive":
                ops.append(_primitive_op(step, [None] * len(step.args), None))
            else:
                ops.append(_numpy_op(step))
        ops = _without_self_copies(ops)
        # without guards a run cannot fail halfway (and fall back to the ctxs): it may drop them
        self.guarded = any(op[0] == _GUARD for op in ops)
        kept = set(r for r in results if r is not None)
        ops = _with_frees(ops, kept)
        # a value a ctx holds that no recorded op reads (LayerNorm's input, read only under
        # create_graph) is not fetched: it would stay alive to the end of the run
        read = kept.union(*[op[-1] for op in ops])
        self.fetch = fetch = [(slot, getter) for slot, getter in fetch if slot in read]
        self.ops = _fast_ops(ops)
        # the usual fetch, a value a forward saved, as flat triples read without a walk
        self.saved_fetch = [(slot, getter[1], getter[2]) for slot, getter in fetch
                            if getter[0] == "saved" and len(getter) == 3]
        self.other_fetch = [(slot, getter) for slot, getter in fetch
                            if not (getter[0] == "saved" and len(getter) == 3)]

    def run(self, ctxs, seeds, parents, wrapped=False, release=False):
        """The gradients for `parents`; with `release` (no retain_graph) the ctxs are emptied once
        their values are fetched, so each saved value is freed after its last use in the plan."""
        for index, name, value in self.checks:
            now = ctxs[index].__dict__.get(name, _MISSING)
            if now is not value and not _same(now, value):
                raise _GuardFailed
        env = self._environment()
        if wrapped:  # the ctxs' saved arrays were wrapped as tensors for an eager backward
            for slot, getter in self.fetch:
                env[slot] = _fetch(getter, ctxs, seeds, True)
        else:
            for slot, index, j in self.saved_fetch:
                env[slot] = ctxs[index].saved[j]
            for slot, getter in self.other_fetch:
                env[slot] = _fetch(getter, ctxs, seeds, False)
        if release and not self.guarded:
            ctxs.clear()
            seeds.clear()
        _execute(self.ops, env, None, False)
        return tuple(None if slot is None or parent is None else _make(env[slot])
                     for slot, parent in zip(self.results, parents))


_MISSING = object()


def _same(a, b) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return False


class _RegionOutput(Function):
    """One of several outputs of a replayed call: hands its gradient to the region, which reads
    it as a seed (held only there, it is freed after its last use in the backward)."""

    @staticmethod
    def backward(ctx, grad):
        region = ctx.parents[0]
        region.pending[ctx.position] = grad
        return (_make(np.zeros((), region.out_dtype)),)


# ---- mg.compile ---------------------------------------------------------------------------------

_EAGER = object()  # cache entry: this signature runs eagerly


class _EagerWhileHooked:
    """Cache entry: the capture ran a module with a forward hook, so calls run eagerly until
    none of the `modules` it ran has one; the next call is then captured again."""
    __slots__ = ("modules",)

    def __init__(self, modules: list):
        self.modules = modules


class _Compiled:
    """A function that captures its first call per signature and replays later ones."""

    def __init__(self, function, module=None, cache_size: int = 8):
        self._fn = function
        self._module = module
        self._cache = collections.OrderedDict()
        self._cache_size = cache_size
        self._misses = 0          # captures in a row (since the last call that needed none)
        self._last_signature = None
        self._always_eager = False
        self._warned = set()
        self.replays = self.captures = 0

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            warnings.warn(f"compile: {message}", CompileWarning, stacklevel=3)

    def _signature(self, flat, structure) -> tuple:
        # the containers' shapes and keys: f(a=x) and f(b=x), f([x, y]) and f([x], [y]) flatten alike
        parts = [grad_mode._state.enabled, tuple(structure)]
        first = {}
        for i, value in enumerate(flat):
            if isinstance(value, Tensor):
                array = value.array
                parts.append((array.shape, array.dtype.str, value._requires_grad, first.setdefault(id(value), i)))
            else:
                try:
                    hash(value)
                    # 0.0 == -0.0, yet 1 / (x * s) tells them apart: a float is compared by its bits
                    parts.append((float, value.hex()) if type(value) is float else (type(value), value))
                except TypeError:
                    parts.append((type(value), id(value)))
        module = self._module
        if module is not None:
            parts.append(tuple([(id(m), m.training) for m in module.modules()]))
            parts.append(tuple([(id(t), id(t.array), t.array.shape, t._requires_grad)
                                for t in module.parameters()]))
            parts.append(tuple([(id(t), id(t.array), t.array.shape) if t is not None else None
                                for t in module.buffers()]))
        return tuple(parts)

    def __call__(self, *args, **kwargs):
        if self._always_eager or _state.tracer is not None or anomaly.is_anomaly_enabled():
            return self._fn(*args, **kwargs)
        structure = []
        flat = _flatten((args, kwargs), structure)
        signature = self._signature(flat, structure)
        entry = self._cache.get(signature)
        if entry is None:
            return self._capture(signature, flat, args, kwargs)
        if entry is _EAGER:
            self._misses = 0
            return self._fn(*args, **kwargs)
        if type(entry) is _EagerWhileHooked:
            if _hooked(entry.modules) is not None:
                return self._fn(*args, **kwargs)
            return self._capture(signature, flat, args, kwargs)  # the hooks are gone
        try:
            result = entry.replay(flat)
        except _GuardFailed as failed:  # a check came out otherwise: capture this call, as a new signature
            return self._capture(signature, flat, args, kwargs, failed_guard=str(failed) or _LIBRARY_CHECK)
        except _HookAdded as hooked:  # eager runs the hook; replays resume once it is removed
            self._warn(f"calls run eagerly while {hooked} has a forward hook (a replay would not run it)")
            return self._fn(*args, **kwargs)
        self._misses = 0
        self.replays += 1
        return result

    def _capture(self, signature, flat, args, kwargs, failed_guard: str | None = None):
        self._misses += 1
        previous, self._last_signature = self._last_signature, signature
        if self._misses > self._cache_size:
            self._always_eager = True
            why = failed_guard or _what_changed(previous, signature)
            self._warn(f"the call was captured anew on each of {self._misses} calls in a row ({why}); "
                       "running eagerly from now on")
            return self._fn(*args, **kwargs)
        tracer = Tracer()
        result, trace = tracer.capture(self._fn, args, kwargs, self._module)
        self.captures += 1
        hooked = _hooked(trace.modules_called) if trace is not None else None
        if hooked is not None:
            self._warn(f"calls run eagerly while {type(hooked).__name__} has a forward hook (a replay would not run it)")
            entry = _EagerWhileHooked(trace.modules_called)
        elif trace is None:
            self._warn(f"this call runs eagerly: {tracer.reason}")
            if failed_guard:  # the plan still serves the calls whose checks come out as at its capture
                return result
            entry = _EAGER
        else:
            entry = _Plan(trace)
        self._cache[signature] = entry
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result


def _what_changed(previous, signature) -> str:
    if previous is None:
        return "first call"
    if len(previous) != len(signature):
        return "signature changed: the number of arguments"
    names = ["grad mode", "the arguments' nesting or keywords"] + [f"argument {i}" for i in range(len(signature) - 2)]
    if len(signature) > 3 and isinstance(signature[-1], tuple):
        names[-3:] = ["a module's training flag", "the parameters", "the buffers"]
    changed = [name for name, a, b in zip(names, previous, signature) if a != b]
    return "signature changed: " + ", ".join(changed)


class _CompiledModule(_Compiled):
    """mg.compile(module): calls replay the module's forward; everything else is the module's.

    As PyTorch's OptimizedModule, the original module is `_orig_mod`.
    """

    def __init__(self, module, cache_size: int = 8):
        super().__init__(module, module, cache_size)
        object.__setattr__(self, "_orig_mod", module)

    def __getattr__(self, name):
        return getattr(self.__dict__["_orig_mod"], name)

    def __setattr__(self, name, value):
        if name.startswith("_") or name in ("replays", "captures"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._orig_mod, name, value)

    def __getitem__(self, index):  # containers (Sequential, ModuleList) index as the module does
        return self._orig_mod[index]

    def __len__(self):
        return len(self._orig_mod)

    def __iter__(self):
        return iter(self._orig_mod)

    def train(self, mode: bool = True):
        self._orig_mod.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def __repr__(self):
        return f"Compiled({self._orig_mod!r})"


def compile(model=None, *, fullgraph: bool = False, dynamic=None, backend="inductor", mode=None,
            options=None, disable: bool = False, cache_size: int = 8, **kwargs):
    """Capture a module's (or function's) call once per signature and replay it as a flat plan.

    Args:
        model: an nn.Module or a function of tensors. Without it, returns a decorator.
        fullgraph, dynamic, backend, mode, options, **kwargs: accepted for PyTorch's signature, ignored.
        disable: return `model` unchanged.
        cache_size: how many signatures keep a plan (oldest dropped first).

    Returns:
        For a module, a wrapper that behaves like it (`_orig_mod` is the module);
        for a function, a function.
    """
    if model is None:
        return lambda m: compile(m, disable=disable, cache_size=cache_size)
    if disable:
        return model
    if isinstance(model, Module):
        return _CompiledModule(model, cache_size)
    if not callable(model):
        raise TypeError(f"compile: expected an nn.Module or a function, got {type(model).__name__}")
    compiled = _Compiled(model, None, cache_size)
    wrapper = functools.wraps(model)(lambda *args, **kwargs: compiled(*args, **kwargs))
    wrapper._compiled = compiled
    return wrapper
