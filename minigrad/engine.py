"""The backward engine: reverse-mode differentiation over the recorded graph.

The graph's vertices are *grad keys*: a node (`Function` instance) for a
tensor made by an op, or the tensor itself for a leaf. `run_backward` walks them
from the outputs back, newest node first, calling each node's VJP once with
the sum of the gradients that reached it.
"""
from __future__ import annotations

import contextlib
import heapq
import threading

import numpy as np

from . import anomaly, grad_mode
from .tensor import Tensor, _make


def unbroadcast(grad, shape: tuple):
    """Sum `grad` down to `shape`: the VJP of broadcasting, the one place it is undone.

    Args:
        grad: Tensor whose shape is `shape` broadcast against other operands.
        shape: shape of the input that was broadcast.

    Returns:
        Tensor of shape `shape`.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    kept = tuple(i + extra for i, size in enumerate(shape) if size == 1 and grad.shape[i + extra] != 1)
    if not kept and extra > 0 and grad.shape[extra:] == shape:  # only leading dims were added (a bias row)
        return grad.sum(axis=tuple(range(extra)))
    grad = grad.sum(axis=tuple(range(extra)) + kept, keepdims=True)
    return grad.reshape(shape)


class ScatteredGradient:
    """A gradient that is zero except for `data` at `index` (getitem's VJP when not recording).

    The engine adds it into the input's gradient in place, so taking T slices
    of one tensor (an RNN reading its time steps) costs O(T slices) in
    backward, not T dense arrays of the whole input.
    """
    __slots__ = ("array", "index", "unique")

    def __init__(self, data: np.ndarray, index, unique: bool):
        self.array, self.index, self.unique = data, index, unique

    def add_into(self, buffer: np.ndarray) -> None:
        """buffer[index] += data, where a position indexed twice receives both values."""
        if self.array.size == 0:  # an empty selection (x[[]]) adds nothing
            return
        if self.unique:
            buffer[self.index] += self.array
            return
        index = self.index[0] if isinstance(self.index, tuple) and len(self.index) == 1 else self.index
        if isinstance(index, np.ndarray) and index.dtype.kind in "iu" and buffer.ndim >= 1:
            _add_rows(buffer, index, self.array)
        else:
            np.add.at(buffer, self.index, self.array)


def _add_rows(buffer: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """buffer[rows] += values with repeated rows summed (an embedding's backward).

    Sorting the rows and summing each run with one reduceat is ~6x faster than np.add.at.
    """
    n = buffer.shape[0]
    rows = rows.ravel()
    rows = np.where(rows < 0, rows + n, rows)          # -1 and n-1 are the same row
    values = values.reshape(rows.size, -1)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_rows[1:] != sorted_rows[:-1])))
    target = buffer.reshape(n, -1)
    target[sorted_rows[starts]] += np.add.reduceat(values[order], starts, axis=0)


class _GradientStore:
    """The gradients that have reached each grad key so far, summed as they arrive.

    It also knows which keys hold an array nothing else holds (one it made
    by summing, or a fresh VJP result), so that a second gradient is summed
    into it in place and a leaf keeps it as `.grad` without a copy (PyTorch's
    AccumulateGrad steals a buffer on the same grounds).
    """

    def __init__(self, create_graph: bool):
        self.create_graph = create_graph
        self.values = {}    # id(key) -> summed gradient Tensor
        self.owned = set()  # ids of keys whose array is ours to write into and to give away

    def seed(self, key, grad) -> bool:
        """Start from `grad` at a root; True when it is the first gradient of `key`."""
        current = self.values.get(id(key))
        if current is None:
            self.values[id(key)] = grad
            return True
        self._add(id(key), current, grad)
        return False

    def pop(self, key):
        """The summed gradient of key, and whether its array is ours to keep."""
        k = id(key)
        return self.values.pop(k), k in self.owned

    def receive(self, node, parent, grad, node_grad, node_grad_owned: bool, siblings) -> bool:
        """Add `grad`, the VJP result of `node` for its input `parent`, to what `parent` has.

        Returns True when it is the first gradient to reach `parent`.
        """
        k = id(parent)
        values = self.values
        current = values.get(k)
        if isinstance(parent, Tensor):  # a leaf
            shape, dtype = parent.array.shape, parent.array.dtype
        else:
            shape, dtype = parent.out_shape, parent.out_dtype
        if type(grad) is not Tensor:  # one test for the common case
            if type(grad) is ScatteredGradient:
                self._scatter(k, current, grad, shape, dtype)
                return current is None
            if not isinstance(grad, Tensor):
                grad = _make(np.asarray(grad))
        array = grad.array
        if array.shape != shape:
            grad = _fit(node, parent, grad, shape)
        if array.dtype is not dtype and array.dtype != dtype:  # `is` first: comparing dtypes is slow
            grad = grad.to(dtype)
        if current is not None:
            self._add(k, current, grad)
            return False
        values[k] = grad  # the first gradient to arrive (the common case) is just stored
        # (a user Function may return tensors it keeps: never let a leaf take those)
        if not self.create_graph and grad is not node_grad and not node.forward_on_tensors and \
                _is_exclusive(grad, node_grad, node_grad_owned, siblings):
            self.owned.add(k)  # a fresh array no one else holds: a second gradient is summed into it
        return True

    def _add(self, k: int, current, grad) -> None:
        if self.create_graph:
            self.values[k] = current + grad
        elif k in self.owned and current.array.shape == grad.array.shape:
            np.add(current.array, grad.array, out=current.array, casting="unsafe")
        else:
            self.values[k] = _make(np.asarray(current.array + grad.array))  # 0-d + 0-d gives a numpy scalar
            self.owned.add(k)

    def _scatter(self, k: int, current, grad: ScatteredGradient, shape: tuple, dtype) -> None:
        if current is None or k not in self.owned:
            buffer = np.zeros(shape, dtype) if current is None else current.array.astype(dtype, copy=True)
            current = self.values[k] = _make(buffer)
            self.owned.add(k)
        grad.add_into(current.array)


def broadcasts_to(shape: tuple, target: tuple) -> bool:
    """Whether an array of `shape` broadcasts to `target` exactly (so `unbroadcast` undoes it).

    Plain Python: np.broadcast_shapes costs ~4 us, and every bias and every broadcast
    operand asks, in forward (addmm) or in backward (each gradient summed down).
    """
    extra = len(target) - len(shape)
    return extra >= 0 and (target[extra:] == shape or  # a bias row: the common case, one comparison
                           all(size == 1 or size == wanted for size, wanted in zip(shape, target[extra:])))


def _fit(node, parent, grad, shape: tuple):
    """Sum a VJP result that came back in a broadcast shape down to its input's shape."""
    if not broadcasts_to(shape, grad.array.shape):
        index = next(i for i, p in enumerate(node.parents) if p is parent)
        raise RuntimeError(f"{node.name}: backward returned a gradient of shape {grad.shape} for input "
                           f"{index}, which has shape {shape} - expected that shape (or one that "
                           "it broadcasts to)")
    return unbroadcast(grad, shape)


class _Pass(threading.local):
    """What the backward pass running in this thread was asked: a node whose one VJP spans many
    ops (a compiled call's region) reads it to free each saved value after its last use, as the
    engine does per node."""
    retain_graph = True  # outside a pass nothing may be freed early


running_pass = _Pass()


@contextlib.contextmanager
def _pass_retaining(retain_graph: bool):
    """Set running_pass.retain_graph for one pass; a nested pass (or an error) puts it back."""
    outer, running_pass.retain_graph = running_pass.retain_graph, retain_graph
    try:
        yield
    finally:
        running_pass.retain_graph = outer


def run_backward(roots, root_grads, retain_graph: bool, create_graph: bool, inputs=None):
    """Backpropagate `root_grads` from `roots` through the graph.

    Args:
        roots: output tensors.
        root_grads: one gradient Tensor per root, shaped like it.
        retain_graph: keep saved values so the graph can be walked again.
        create_graph: record the backward pass itself (for higher derivatives).
        inputs: if given, tensors whose gradients are returned (`mg.grad`)
            instead of being accumulated into leaves' `.grad`.

    Returns:
        With `inputs`: one gradient Tensor (or None) per input. Otherwise None.

    Order: a node's inputs are always older than the node (`Function.sequence`),
    so taking the newest node that has a gradient waiting is a topological
    order, found on the way without a separate pass over the graph (PyTorch's
    engine orders its ready queue the same way). When a node comes up, every
    node that could still send it a gradient is newer and already done, so its
    gradient is complete. Leaves come last, after every node.
    """
    store = _GradientStore(create_graph)
    waiting = []  # heap of (-sequence, node): nodes with a gradient waiting, newest on top
    leaves = []   # leaves with a gradient waiting, in arrival order
    for root, grad in zip(roots, root_grads):
        key = _grad_key(root)
        if store.seed(key, grad):
            _wait(key, waiting, leaves)
    wanted = None if inputs is None else {id(_grad_key(t)): None for t in inputs}
    check_finite = anomaly._state.enabled

    pop, receive, heappop, heappush = store.pop, store.receive, heapq.heappop, heapq.heappush
    with grad_mode.set_grad_enabled(create_graph), _pass_retaining(retain_graph):
        while waiting:
            node = heappop(waiting)[1]
            grad, owned = pop(node)
            if node.hooks is not None or node.retained is not None or wanted is not None:
                grad, owned = _before_vjp(node, grad, owned, wanted, create_graph)
            input_grads = node.backward(node, grad)
            if type(input_grads) is not tuple:
                input_grads = (input_grads,)
            if check_finite or len(input_grads) != len(node.parents):
                _check_vjp(node, input_grads, check_finite)
            for parent, input_grad in zip(node.parents, input_grads):
                if parent is not None and input_grad is not None and \
                        receive(node, parent, input_grad, grad, owned, input_grads):
                    if isinstance(parent, Tensor):  # _wait, written out: this is the hot loop
                        leaves.append(parent)
                    else:
                        heappush(waiting, (-parent.sequence, parent))
            if node.saved and not retain_graph:
                node.release()
        for leaf in leaves:
            grad, owned = store.pop(leaf)
            if leaf._hooks:  # a hook may keep the gradient it is given: .grad must not be that array
                grad, owned = _run_hooks(leaf._hooks, _for_hooks(grad, owned, create_graph)), False
            if wanted is None:
                _accumulate_leaf(leaf, grad, create_graph, owned)
            elif id(leaf) in wanted:
                wanted[id(leaf)] = grad
    return None if wanted is None else _wanted_results(wanted, inputs, create_graph)


def _grad_key(tensor):
    """The graph vertex that receives a tensor's gradient: its node, or a leaf itself."""
    return tensor._node if tensor._node is not None else tensor


def _wait(key, waiting: list, leaves: list) -> None:
    """A key has received its first gradient: a node joins the heap, a leaf the list."""
    if isinstance(key, Tensor):
        leaves.append(key)
    else:
        heapq.heappush(waiting, (-key.sequence, key))


def _vjp(node, grad, check_finite: bool) -> tuple:
    """Run a node's VJP: one gradient (or None) per input."""
    input_grads = node.backward(node, grad)
    if type(input_grads) is not tuple:
        input_grads = (input_grads,)
    _check_vjp(node, input_grads, check_finite)
    return input_grads


def _check_vjp(node, input_grads: tuple, check_finite: bool) -> None:
    """One gradient per input, and (under detect_anomaly) finite ones."""
    if len(input_grads) != len(node.parents):
        raise RuntimeError(f"{node.name}: backward returned {len(input_grads)} gradients "
                           f"for {len(node.parents)} inputs - expected one per input (None for none)")
    if check_finite:
        anomaly.check_gradient(node, input_grads)


def _wanted_results(wanted: dict, inputs, create_graph: bool) -> tuple:
    """mg.grad's answer: one gradient (or None) per input."""
    results = [wanted[id(_grad_key(t))] for t in inputs]
    if not create_graph:
        # the caller owns what mg.grad returns: a writable array, shared with no other
        # result (x + y gives x and y one gradient object) nor with an expand()ed view
        results = [_make(np.array(g.array)) if g is not None else None for g in results]
    return tuple(results)


def _before_vjp(node, grad, owned: bool, wanted, create_graph: bool):
    """What happens at a node before its VJP, when asked for: its hooks, retain_grad(), and mg.grad's inputs.
    Returns the gradient to pass on (a hook may replace it) and whether it is still exclusive: not
    once a hook has seen it or mg.grad keeps it, since the engine may later sum into a view of it."""
    if node.hooks:
        grad, owned = _run_hooks(node.hooks, _for_hooks(grad, owned, create_graph)), False  # a hook may keep it
    if node.retained is not None and wanted is None:
        tensor = node.retained()
        if tensor is not None:
            if tensor.grad is None:
                _accumulate_leaf(tensor, grad, create_graph)  # (a copy)
            else:  # summed out of place, as PyTorch does for a non-leaf: an earlier .grad the user holds stays
                tensor.grad = tensor.grad + grad
    if wanted is not None and id(node) in wanted:
        wanted[id(node)], owned = grad, False
    return grad, owned


def _for_hooks(grad, owned: bool, create_graph: bool):
    """The gradient to give hooks: one may change it in place (grad.mul_(2); what it leaves flows
    on), which must not reach another holder of that array: a leaf's gradient still waiting (add
    gives both inputs one array; PyTorch has accumulated it by then), the caller's seed. So a
    gradient not exclusively ours is copied first."""
    if owned:
        return grad
    return grad.clone() if create_graph else _make(grad.array.copy())


def _run_hooks(hooks, grad):
    if hooks:
        for hook in hooks:
            result = hook(grad)
            if result is not None:
                grad = result
    return grad


def _is_exclusive(result, grad, grad_is_exclusive: bool, results: tuple) -> bool:
    """Whether a VJP result is an array no one else holds, so a leaf may keep it without a copy.

    A primitive's VJP returns new arrays (or views of arrays it just made),
    or something shared: the incoming gradient passed on (add gives one
    tensor to both inputs) or a view of it. A view of the incoming gradient
    counts only if that gradient was itself exclusive, and no two results may
    share memory. (PyTorch's AccumulateGrad steals a buffer on the same grounds.)
    """
    data = result.array
    if data is grad.array or not data.flags.writeable:
        return False
    # the object whose memory an array uses: itself, or the base that numpy points every view to
    owner = data if data.base is None else data.base
    if len(results) > 1:
        for other in results:  # two results sharing memory: one array, views of one, one a view of the other
            if other is not result and isinstance(other, Tensor) and \
                    (other.array if other.array.base is None else other.array.base) is owner:
                return False
    if owner is data:
        return True
    # a view of the incoming gradient is ours only if that gradient was; a view of an array the
    # VJP made itself (e.g. a transposed matmul result) is new
    return grad_is_exclusive if owner is (grad.array if grad.array.base is None else grad.array.base) else True


def _accumulate_leaf(tensor, grad, create_graph: bool, exclusive: bool = False) -> None:
    """Add `grad` into `tensor.grad`, never letting two tensors share one gradient array.

    `exclusive`: nothing else holds grad's array, so it can become .grad as it is.
    """
    if tensor.grad is None:
        if create_graph or exclusive:
            tensor.grad = grad
        else:
            # the array may be shared with another tensor's gradient or be the user's: own a copy
            tensor.grad = _make(grad.array.copy())  # a C-ordered copy, also of a transposed view
    elif create_graph or tensor.grad._requires_grad:
        tensor.grad = tensor.grad + grad
    else:
        with tensor.grad._writing() as summed:
            summed += grad.array
