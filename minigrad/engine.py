"""The backward engine: reverse-mode differentiation over the recorded graph.

The graph's vertices are *grad keys*: a node (`Function` instance) for a
tensor made by an op, or the tensor itself for a leaf. `run_backward` walks them
from the outputs back, newest node first, calling each node's VJP once with
the sum of the gradients that reached it.
"""
from __future__ import annotations

import heapq

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


class _Gradients:
    """Gradients that have reached each grad key so far, summed as they arrive."""

    def __init__(self, create_graph: bool):
        self.create_graph = create_graph
        self.values = {}
        self.owned = set()  # keys whose array was made here, so it may be added to in place

    def add(self, key, grad) -> None:
        k = id(key)
        current = self.values.get(k)
        if current is None:
            self.values[k] = grad
        elif self.create_graph:
            self.values[k] = current + grad
        elif k in self.owned and current.array.shape == grad.array.shape:
            np.add(current.array, grad.array, out=current.array, casting="unsafe")
        else:
            self.values[k] = _make(np.asarray(current.array + grad.array))  # 0-d + 0-d gives a numpy scalar
            self.owned.add(k)

    def scatter(self, key, grad: ScatteredGradient, shape: tuple, dtype) -> None:
        k = id(key)
        current = self.values.get(k)
        if current is None or k not in self.owned:
            buffer = np.zeros(shape, dtype) if current is None else current.array.astype(dtype, copy=True)
            current = self.values[k] = _make(buffer)
            self.owned.add(k)
        grad.add_into(current.array)

    def pop(self, key):
        """The summed gradient of key (or None), and whether its array is ours to keep."""
        k = id(key)
        return self.values.pop(k, None), k in self.owned


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
    gradients = _Gradients(create_graph)
    values = gradients.values  # the hot loop reads and writes the sums directly
    owned_keys = gradients.owned
    waiting = []  # heap of (-sequence, node): nodes with a gradient waiting, newest on top
    leaves = []   # leaves with a gradient waiting, in arrival order
    heappush, heappop = heapq.heappush, heapq.heappop

    for root, grad in zip(roots, root_grads):
        key = root._node if root._node is not None else root
        if id(key) not in values:
            if key is root:
                leaves.append(key)
            else:
                heappush(waiting, (-key.sequence, key))
        gradients.add(key, grad)
    # gradient arrays that one pending sum holds and nothing else reads or writes (fresh VJP
    # results, and a single view of such a gradient): a leaf may keep one as .grad without a copy.
    # Keyed by id, holding the array so the id cannot be reused while it is listed.
    exclusive = {}

    wanted = None
    if inputs is not None:
        wanted = {id(t._node if t._node is not None else t): None for t in inputs}

    check_finite = anomaly._state.enabled
    track = not create_graph  # leaves adopt gradient arrays only when backward is not recorded
    with grad_mode.set_grad_enabled(create_graph):
        while waiting:
            key = heappop(waiting)[1]
            grad = values.pop(id(key))
            owned = id(key) in owned_keys or exclusive.pop(id(grad.array), None) is grad.array
            if key.hooks is not None or key.retained is not None or wanted is not None:
                grad, owned = _before_vjp(key, grad, owned, wanted, create_graph)

            input_grads = key.backward(key, grad)
            if type(input_grads) is not tuple:
                input_grads = (input_grads,)
            parents = key.parents
            if len(input_grads) != len(parents):
                raise RuntimeError(f"{key.name}: backward returned {len(input_grads)} gradients "
                                   f"for {len(parents)} inputs - expected one per input (None for none)")
            if check_finite:
                anomaly.check_gradient(key, input_grads)
            for parent, input_grad in zip(parents, input_grads):
                if parent is None or input_grad is None:
                    continue
                current = values.get(id(parent))
                # the gradient must come out shaped and typed like the input; a parent seen for
                # the first time starts waiting: a leaf in arrival order, a node on the heap
                if isinstance(parent, Tensor):  # a leaf
                    shape, dtype = parent.array.shape, parent.array.dtype
                    if current is None:
                        leaves.append(parent)
                else:
                    shape, dtype = parent.out_shape, parent.out_dtype
                    if current is None:
                        heappush(waiting, (-parent.sequence, parent))
                if current is not None and id(parent) not in owned_keys and \
                        exclusive.pop(id(current.array), None) is current.array:
                    owned_keys.add(id(parent))  # a fresh array no one else holds: sum into it in place
                if type(input_grad) is ScatteredGradient:
                    gradients.scatter(parent, input_grad, shape, dtype)
                    continue
                if not isinstance(input_grad, Tensor):
                    input_grad = _make(np.asarray(input_grad))
                data = input_grad.array
                if data.shape != shape:
                    input_grad = unbroadcast(input_grad, shape)
                if data.dtype != dtype:
                    input_grad = input_grad.to(dtype)
                if current is not None:
                    gradients.add(parent, input_grad)
                else:  # the first gradient to arrive (the common case) is just stored
                    values[id(parent)] = input_grad
                    # (a user Function may return tensors it keeps: never let a leaf take those)
                    if track and input_grad is not grad and not key.forward_on_tensors and \
                            _is_exclusive(input_grad, grad, owned, input_grads):
                        exclusive[id(input_grad.array)] = input_grad.array
            if key.saved and not retain_graph:
                key.release()

        for leaf in leaves:
            grad, owned = gradients.pop(leaf)
            owned = owned or exclusive.pop(id(grad.array), None) is grad.array
            hooked = _run_hooks(leaf._hooks, grad) if leaf._hooks else grad
            if wanted is not None:
                if id(leaf) in wanted:
                    wanted[id(leaf)] = hooked
            else:
                _accumulate_leaf(leaf, hooked, create_graph, owned and hooked is grad)

    if wanted is not None:
        results = [wanted[id(t._node if t._node is not None else t)] for t in inputs]
        if not create_graph:
            # the caller owns what mg.grad returns: a writable array, shared with no other
            # result (x + y gives x and y one gradient object) nor with an expand()ed view
            results = [_make(np.array(g.array)) if g is not None else None for g in results]
        return tuple(results)
    return None


def _before_vjp(node, grad, owned: bool, wanted, create_graph: bool):
    """What happens at a node before its VJP, when asked for: its hooks, retain_grad(), and mg.grad's inputs.
    Returns the gradient to pass on (a hook may replace it) and whether it is still exclusive."""
    if node.hooks:
        hooked = _run_hooks(node.hooks, grad)
        owned, grad = owned and hooked is grad, hooked
    if node.retained is not None and wanted is None:
        tensor = node.retained()
        if tensor is not None:
            _accumulate_leaf(tensor, grad, create_graph)
    if wanted is not None and id(node) in wanted:
        wanted[id(node)] = grad
    return grad, owned


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
    share an array. (PyTorch's AccumulateGrad steals a buffer on the same grounds.)
    """
    data = result.array
    if data is grad.array or not data.flags.writeable:
        return False
    base = data.base
    if len(results) > 1:
        for other in results:  # two results holding one array, or views of one array
            if other is not result and isinstance(other, Tensor) and (
                    other.array is data or (base is not None and other.array.base is base)):
                return False
    if base is None:
        return True
    owner = grad.array if grad.array.base is None else grad.array.base
    # a view of the incoming gradient is ours only if that gradient was; a view of an array the
    # VJP made itself (e.g. a transposed matmul result) is new
    return grad_is_exclusive if base is owner else True


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
        tensor.grad.array += grad.array
