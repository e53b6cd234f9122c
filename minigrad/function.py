"""Function: the one mechanism behind every differentiable operation.

A primitive is a subclass with two static methods side by side:

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):            # numpy arrays in, one numpy array out
            out = np.exp(x)
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx, grad):        # minigrad Tensors in, Tensors out
            out, = ctx.saved_tensors
            return grad * out

`Exp.apply(x)` runs forward and, when recording, makes a graph node: an
instance of the class (the `ctx`), holding its parents, what it saved and
any small attributes forward set on it. Because backward is written with
minigrad's own operations, running it with recording on (`create_graph=True`)
makes the backward pass a graph too, which is how higher-order gradients work.

Positional arguments are the op's inputs (tensors, arrays or Python scalars;
only tensors can receive gradients); keyword arguments are its settings
(axes, strides, ...), keyword-only in `forward` (after a `*`), and are shown
by the graph drawing. A setting passed positionally is refused at the call.
"""
from __future__ import annotations

import inspect
import itertools
import re
import threading
from types import MappingProxyType

import numpy as np

from . import anomaly, grad_mode, scope
from .tensor import Tensor, _make

_new = object.__new__
_ndarray = np.ndarray
_grad_mode_state, _anomaly_state, _scope_state = grad_mode._state, anomaly._state, scope._state
# numbers nodes in the order they are made (itertools.count is atomic under the GIL): a node's
# inputs are always older than it, so running nodes newest first is a topological order
_next_sequence = itertools.count().__next__


class _CaptureState(threading.local):
    """minigrad.capture's Tracer while it records a call in this thread (`tracer`, else None).

    `_capturing` counts the threads with a tracer, so that `apply` reads one module global, not
    this thread-local object, while nothing is being captured (every op, in every step)."""
    _tracer = None

    @property
    def tracer(self):
        return self._tracer

    @tracer.setter
    def tracer(self, tracer) -> None:
        global _capturing
        with _capturing_lock:
            _capturing += (tracer is not None) - (self._tracer is not None)
            self._tracer = tracer


_capturing = 0
_capturing_lock = threading.Lock()
_capture_state = _CaptureState()

_OUTPUT = object()    # save_for_backward marker: "the op's own output"
_RELEASED = object()  # saved values after a backward without retain_graph


class Function:
    """Base class of every primitive and of user-defined differentiable functions.

    The instance made by `apply` is the graph node; in `forward` and
    `backward` it is called `ctx`.
    """

    # set on every node by apply():
    #   parents      one entry per positional input: the input's grad key
    #                (its node, or the leaf tensor itself) or None
    #   out_shape/out_dtype of the output: a consumer's backward sums and casts
    #                the gradient it sends back here to them
    #   attributes   the keyword settings, for drawing and error messages
    #   saved        what save_for_backward kept, as backward gets it (after forward: arrays that
    #                were inputs are the input tensors, others are wrapped; the output is _OUTPUT)
    #   saved_versions (input tensor, its version) for each saved input, checked at backward
    #   output_version (version counter, version) of the output, when it is saved
    #   hooks        functions called on the gradient of the output
    #   retained     weak reference to the output tensor, if it called retain_grad()
    # and, when recorded inside an nn.Module's forward (else the class default None):
    #   module_call  that module call (a scope.ModuleCall, for drawing)

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    # defaults shared by every node until an op or the user sets them
    saved = ()
    saved_versions = ()
    attributes = MappingProxyType({})  # read-only and shared: apply gives a node with settings its own dict
    hooks = None
    retained = None
    output_version = None
    view_watch = None  # (version counter, version) once the output shares memory with a view
    module_call = None
    forward_on_tensors = False  # primitives get arrays; user Functions (autograd.Function) get tensors

    # ---- saving values for backward -------------------------------------------
    def save_for_backward(self, *values) -> None:
        """Keep `values` (inputs, the output, or other arrays) for backward.

        Inputs are kept as the input tensors themselves, so a second-order
        backward can differentiate through them; the output is kept as its
        array and turned back into a tensor of this node when needed.
        """
        self.saved = values

    @property
    def saved_tensors(self) -> tuple:
        saved = self.saved
        if saved is _RELEASED:
            raise RuntimeError(
                f"{self.name}: trying to backward through the graph a second time, but its saved "
                "values were freed by the first backward - call backward(retain_graph=True) the "
                "first time if you need to backward twice")
        for tensor, version in self.saved_versions:
            counter = tensor._version_counter
            if counter is not None and counter[0] != version:
                self._refuse_changed("an input", version, counter[0])
        if self.output_version is None:
            return saved
        counter, version = self.output_version
        if counter[0] != version:
            self._refuse_changed("its output", version, counter[0])
        # made here, not kept: a node holding its output tensor would be a reference cycle
        output = _make(self.output_data, True, self)
        return tuple(output if value is _OUTPUT else value for value in saved)

    def _refuse_changed(self, what: str, version: int, now: int) -> None:
        raise RuntimeError(
            f"{self.name}: {what}, saved for backward at version {version}, was modified by "
            f"an in-place operation (now version {now}); the gradient would be wrong - "
            "use an out-of-place operation (x = x + y instead of x += y) or .clone() first")

    @property
    def name(self) -> str:
        return type(self).__name__.lower()

    @property
    def shapes(self) -> list:
        """Shape of each input that gets a gradient (None for the others)."""
        return [None if p is None else p.array.shape if isinstance(p, Tensor) else p.out_shape
                for p in self.parents]

    @property
    def dtypes(self) -> list:
        """dtype of each input that gets a gradient (None for the others)."""
        return [None if p is None else p.array.dtype if isinstance(p, Tensor) else p.out_dtype
                for p in self.parents]

    @property
    def needs_input_grad(self) -> tuple:
        """One bool per input: does backward need to compute its gradient?"""
        return tuple([parent is not None for parent in self.parents])

    # ---- applying ---------------------------------------------------------------
    @classmethod
    def apply(cls, *args, **kwargs):
        """Run the op on tensors (or arrays and scalars) and record it when needed."""
        if _capturing and _capture_state.tracer is not None:  # mg.compile is capturing this call
            return _capture_state.tracer.record(cls, args, kwargs)
        ctx = _new(cls)
        arrays = []
        parents = []
        needs_grad = False
        recording = _grad_mode_state.enabled
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.array)
                if recording and a._requires_grad:
                    node = a._node
                    if node is None:
                        parents.append(a)  # a leaf is its own grad key
                    else:
                        if node.view_watch is not None:
                            _check_view_watch(cls, node)
                        parents.append(node)
                    needs_grad = True
                    continue
                if recording and a._version_counter is not None and len(a._version_counter) > 1:
                    _check_history(cls, a)
            else:
                arrays.append(a)
            parents.append(None)
        ctx.parents = parents  # before forward: forward may read needs_input_grad
        if cls.forward_on_tensors:
            data = cls._forward_with_tensors(ctx, args, kwargs)
        else:
            try:
                data = cls.forward(ctx, *arrays, **kwargs) if kwargs else cls.forward(ctx, *arrays)
            except ValueError as error:  # numpy's own words: say which op, and which shapes
                if _NAMED.match(str(error)):  # already ours ("setitem: ...")
                    raise
                raise ValueError(_forward_error(ctx.name, arrays, error)) from None
            except TypeError:  # settings are keyword-only: one passed positionally stops the call here
                refusal = _positional_settings_error(cls, len(arrays))
                if refusal is not None:
                    raise refusal from None
                raise
        if type(data) is not _ndarray:
            raw, data = data, np.asarray(data)
            if ctx.saved:  # numpy gives scalars for 0-d inputs: forward saved its output as `raw`
                ctx.saved = tuple(data if value is raw else value for value in ctx.saved)
        if not needs_grad:
            return _make(data)

        ctx.sequence = _next_sequence()  # creation order: the engine runs nodes newest first
        ctx.out_shape = data.shape  # what a consumer's backward sums its gradient for us down to
        ctx.out_dtype = data.dtype
        if kwargs:
            ctx.attributes = kwargs
        if _scope_state.current is not None:
            ctx.module_call = _scope_state.current
        out = _make(data, True, ctx)
        if ctx.saved:
            ctx.saved = ctx._resolve_saved(args, data, out)
        if _anomaly_state.enabled:
            ctx.created_at = anomaly.user_frame()
            anomaly.check_forward(ctx, arrays, data)
        return out

    @classmethod
    def _forward_with_tensors(cls, ctx, args, kwargs):
        """Call a PyTorch-style forward: tensors in (not recording), a tensor or array out."""
        inputs = [_make(arg.array) if isinstance(arg, Tensor) else arg for arg in args]
        with grad_mode.no_grad():
            out = cls.forward(ctx, *inputs, **kwargs)
        ctx.saved = tuple(v.array if isinstance(v, Tensor) else v for v in ctx.saved)
        return out.array if isinstance(out, Tensor) else out

    def _resolve_saved(self, args, data, out) -> tuple:
        """What backward will get for each saved value: an input array is its input tensor (its
        version noted in saved_versions), the output is _OUTPUT (its version in output_version),
        another array is wrapped as a tensor, and None or a Python number stays as it is."""
        for value in self.saved:
            if type(value) is _ndarray or isinstance(value, np.generic):
                break
        else:  # only None and Python numbers (a multiply by 2 saves the 2): kept as they are
            return self.saved
        saved = []
        versions = None
        for value in self.saved:
            if type(value) is _ndarray:
                if value is data:
                    if out._version_counter is None:
                        out._version_counter = [0]
                    self.output_version = (out._version_counter, out._version_counter[0])
                    self.output_data = data
                    value = _OUTPUT
                else:
                    for arg in args:
                        if isinstance(arg, Tensor) and arg.array is value:
                            counter = arg._version_counter
                            if versions is None:
                                versions = self.saved_versions = []
                            versions.append((arg, counter[0] if counter is not None else 0))
                            value = arg
                            break
                    else:
                        value = _make(value)
            elif isinstance(value, np.generic):  # numpy gives scalars for 0-d inputs
                value = _make(np.asarray(value))
            saved.append(value)
        return tuple(saved)

    def rebase_output(self, tensor) -> None:
        """Make `tensor` (changed in place to hold this node's output) the output this node saved."""
        if self.output_version is None:
            return
        counter = tensor._version_counter
        self.output_version = (counter, counter[0])
        self.output_data = tensor.array

    def release(self) -> None:
        """Drop what forward saved (called by backward unless retain_graph)."""
        if self.saved:
            self.saved = _RELEASED
            # only fields this node has: a new attribute would cost more than it frees
            if self.saved_versions:
                self.saved_versions = ()
            if self.output_version is not None:
                self.output_data = None


_NAMED = re.compile(r"[A-Za-z_][A-Za-z_0-9.]*: ")


def _forward_error(name: str, arrays: list, error: ValueError) -> str:
    """The message for numpy's ValueError in `name`'s forward: operands that do not broadcast are
    the usual cause, so they get the house style; anything else is numpy's text after the op name."""
    shapes = [a.shape for a in arrays if isinstance(a, np.ndarray)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return (f"{name}: shapes {' and '.join(str(s) for s in shapes)} cannot be broadcast together - "
                "expected each dimension to be equal, or 1 in all but one of them")
    return f"{name}: {error}"


def _positional_settings_error(cls, given: int) -> TypeError | None:
    """The error for a setting passed positionally, if that is why `cls.forward` refused `given`
    positional arguments (its signature is read only then, after the call failed)."""
    parameters = list(inspect.signature(cls.forward).parameters.values())[1:]  # after ctx
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return None
    inputs = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)
    settings = [p.name for p in parameters if p.kind is p.KEYWORD_ONLY]
    extra = given - inputs
    if extra <= 0:
        return None
    names = ", ".join(f"`{name}`" for name in settings[:extra]) or f"{extra} more argument(s)"
    return TypeError(f"{cls.__name__.lower()}: setting {names} passed positionally - {cls.__name__} takes "
                     f"{inputs} input(s); pass settings by keyword ({', '.join(f'{n}=...' for n in settings)})")


def _check_view_watch(cls, node) -> None:
    """Refuse to use a tensor whose memory was changed in place through another view of it
    after it was made: its node describes the value it had before, so gradients would be wrong."""
    counter, version = node.view_watch
    if counter[0] != version:
        raise RuntimeError(
            f"{cls.__name__.lower()}: an input shares memory with a view (or the tensor it is a view of) "
            f"that was modified by an in-place operation after it was made (version {version} -> "
            f"{counter[0]}), so its recorded history no longer describes its value - modify the tensor "
            "itself (y[0] *= 3, not v = y[0]; v *= 3), or .clone() the view first")


def _check_history(cls, tensor) -> None:
    """Refuse a tensor that records nothing while its memory was changed by a recorded in-place
    operation through a view of it (or through the tensor it is a view of): in PyTorch it would
    require grad now, and used here as a constant it would silently get no gradient. A tensor
    detach()ed from one with that history has the same array, and is a constant, as in PyTorch."""
    array = tensor.array
    for changed in tensor._version_counter[1:]:  # weak references to the arrays that have a history
        if changed() is array:
            return
    raise RuntimeError(
        f"{cls.__name__.lower()}: an input that does not require grad shares memory with a view (or "
        "the tensor it is a view of) that an in-place operation on tensors requiring grad changed, "
        "so its value depends on them but it has no history - write into the tensor itself "
        "(y[1:] = x, not y[1:].copy_(x) or v = y.view(-1); v[0] = x), or .clone() the view first")


class ViewFunction(Function):
    """A primitive whose output is a view of its first input's memory (reshape, transpose, ...).

    The output shares the input's version counter, so an in-place change
    through either is seen by every node that saved the other.
    """

    always_view = False  # True: the output is a view whatever the input (no need to ask numpy)

    @classmethod
    def apply(cls, *args, **kwargs):
        out = super().apply(*args, **kwargs)
        source = args[0]
        if isinstance(source, Tensor) and (cls.always_view or np.may_share_memory(out.array, source.array)):
            counter = source._version_counter
            if counter is None:
                counter = source._version_counter = [0]
            out._version_counter = counter
            # an in-place change through the view changes the source too, and the other way round;
            # the node that made the unchanged one then no longer describes it: the engine refuses it
            for node in (out._node, source._node):
                if node is not None and node.view_watch is None:
                    node.view_watch = (counter, counter[0])
        return out
