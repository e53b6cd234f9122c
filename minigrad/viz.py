"""Drawing the recorded graph with graphviz: see what happened, and where the gradients went.

    import minigrad as mg
    loss = model(x).pow(2).mean()
    loss.name = "loss"
    graph = mg.viz.draw(loss, params=model)        # a graphviz.Digraph; shows inline in Jupyter
    mg.viz.save(graph, "model.svg")                # or .png / .pdf / .dot

The drawing has one box per op (its name and settings: `conv2d 3x3 stride=1
pad=1`, `sum dim=(1,) keepdim`, `reshape (64, -1)`) and one box per tensor
the graph starts or ends at: leaves that require grad (named by `params`)
and the tensors given to `draw`. Arrows follow the data, inputs -> op ->
output; an arrow leaving an op is labelled with the shape of the tensor it
carries. Inputs that need no gradient (constants, data) are not part of the
graph and are not drawn.

Gradients. After `backward()`, `draw(..., show_grads=True)` colours every
leaf by the norm of its `.grad` on a log scale, white (smallest) to red
(largest), with a legend: vanishing or exploding gradients show up as a
colour gradient along the network. The engine keeps no gradient of
intermediate tensors, so to colour the ops too, record them during backward:

    with mg.viz.capture_gradients(loss) as grads:   # hooks every node of loss's graph
        loss.backward()
    mg.viz.draw(loss, params=model, grads=grads)    # colours ops by their output's gradient norm

This module imports graphviz only when it draws, so `import minigrad` never
needs it; rendering (`save`, `.render`, Jupyter display) also needs the
Graphviz `dot` program.
"""
from __future__ import annotations

import inspect
import math
import operator
import os
import weakref
from collections import deque
from typing import Mapping

import numpy as np

from . import random as _random, scope
from .atomic import atomic_write
from .capture import Argument, AsItCame, NamedTupleOf, Plain, Slot, Tracer, _flatten, _slots
from .function import Function
from .nn import Module
from .tensor import Tensor, _make

_new = object.__new__

__all__ = ["draw", "save", "capture_gradients"]

_INSTALL_DOT = ("the Graphviz 'dot' program is needed to render graphs but was not found on PATH - "
                "install it with `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
                "(macOS), `conda install graphviz` or from https://graphviz.org/download/")
_MAX_LABEL = 48  # characters of one label line before it is cut with "..."

_OP_FILL = "#f2f2f2"
_PARAM_FILL = "#cfe2f3"
_LEAF_FILL = "#fff2b3"
_OUTPUT_FILL = "#c9f2c7"
_HIDDEN_FILL = "#ffffff"
_MODULE_FILL = "#e8eef7"   # a module drawn as one box (collapse)
_NO_GRAD_FILL = "#d9d9d9"
_INPUT_FILL = "#fde3c8"   # an argument of a drawn call
_MUTED = {"fillcolor": "#fafafa", "color": "#b3b3b3", "fontcolor": "#8c8c8c"}  # needs no gradient
_NONFINITE_FILL = "#9b59b6"   # nan or inf gradient: its own colour, never on the white->red scale
_ZERO_FILL = "#ffffff"        # exactly zero (a dead ReLU, a cut path): white and dashed, off the scale
_LOW_RGB = (255, 245, 240)   # the light end of matplotlib's "Reds"
_HIGH_RGB = (214, 39, 40)


# ---- the public functions ---------------------------------------------------------------

def draw(*tensors, params=None, show_shapes: bool = True, show_grads: bool = False,
         cluster_modules: bool = True, max_nodes: int | None = 300, depth: int | None = None,
         collapse: int | None = None, graph_attr: Mapping | None = None, grads: "capture_gradients | None" = None,
         grad_range: tuple | None = None, show_constants: bool = True):
    """Draw the graph that produced `tensors`.

    `draw(model, x)` (a module or function first, then its inputs) is
    `draw_call(model, x)`: it runs the call and draws every op, with its
    inputs and what needs no gradient.

    Args:
        *tensors: the outputs to draw from (e.g. the loss), each a Tensor, a
            list of tensors, or a dict name -> Tensor. An output is labelled
            with its dict key, else its `.name`, else "output" ("output 0",
            "output 1", ... for several).
        params: names for the leaves: an nn.Module (its `named_parameters()`,
            and its submodules for `cluster_modules`), a dict name -> Tensor,
            or an iterable of (name, Tensor) pairs. Unnamed leaves show their
            `.name`, or "tensor".
        show_shapes: put shape and dtype on tensor boxes and shapes on arrows.
        show_grads: colour tensors (and ops, with `grads`) by the norm of their
            gradient on a log scale, white (smallest) to red (largest), and add
            a legend. Call it after `backward()`.
        cluster_modules: with an nn.Module as `params`, group the ops (and the
            parameters) of each submodule into a box labelled with its
            qualified name and class, nested as the modules are.
        max_nodes: draw at most this many op boxes, the ones nearest the
            outputs; the rest are collapsed into one box saying how many ops
            were hidden. None: no limit.
        depth: draw only ops at most this many ops away from the outputs (the
            op that made an output is at depth 1); the rest are collapsed.
        collapse: with an nn.Module as `params`, draw each call of a module
            nested deeper than this as one box, showing its class, input and
            output shapes and parameter count: 0 draws the whole model as one
            box, 1 each top-level child. None: every op is drawn.
        graph_attr: graphviz graph attributes overriding the defaults, e.g.
            {"rankdir": "LR"} to lay the graph out left to right.
        grads: gradients recorded by `capture_gradients` during backward, to
            colour ops as well as leaves; implies show_grads.
        grad_range: (low, high) gradient norms for the two ends of the colour
            scale, to compare several drawings; default: the smallest and
            largest norm in this drawing.
        show_constants: (drawing a call) draw ops and tensors that need no
            gradient, muted; a graph drawn from tensors has none to draw.

    Returns:
        graphviz.Digraph (a subclass whose rendering explains how to install
        `dot` if it is missing). It displays inline in Jupyter; `.source` is
        the DOT text; `.render(path, format="svg")` or `mg.viz.save` write it.

    Drawn: one box per op and per leaf that requires grad and is an input of
    a drawn op, one box per output, one arrow per recorded input of each drawn
    op and one from each output's op to the output's box; plus, when needed,
    one "hidden" box and one legend box.
    """
    if tensors and not isinstance(tensors[0], (Tensor, Mapping, list, tuple)) and callable(tensors[0]):
        if grads is not None:
            raise TypeError("draw: grads= colours a graph drawn from tensors after backward; drawing a call "
                            "(draw(model, x)) records no backward - use show_grads=True for the parameters")
        return draw_call(tensors[0], *tensors[1:], params=params, show_shapes=show_shapes, show_grads=show_grads,
                         cluster_modules=cluster_modules, max_nodes=max_nodes, depth=depth, collapse=collapse,
                         graph_attr=graph_attr, grad_range=grad_range, show_constants=show_constants)
    outputs = [(name, tensor, tensor._node) for name, tensor in _named_outputs(tensors)]
    if not outputs:
        raise ValueError("draw: give at least one tensor to draw, e.g. draw(loss)")
    return _draw(outputs, params, show_shapes, show_grads, cluster_modules, max_nodes, depth, collapse,
                 graph_attr, grads, grad_range)


def _draw(outputs, params, show_shapes, show_grads, cluster_modules, max_nodes, depth, collapse, graph_attr,
          grads, grad_range, inputs=None, traced=False):
    """The drawing of `outputs`, (label, tensor, node or None) each: the body of draw and draw_call.
    `inputs` names the call's argument tensors (id -> name); `traced`: the nodes are a trace's steps."""
    graphviz = _import_graphviz()
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"draw: max_nodes must be at least 1 (or None for no limit), got {max_nodes}")
    if depth is not None and depth < 1:
        raise ValueError(f"draw: depth must be at least 1 (or None for no limit), got {depth}")
    if collapse is not None and (collapse < 0 or not hasattr(params, "named_modules")):
        raise ValueError(f"draw: collapse needs an nn.Module as params and a depth >= 0, got collapse={collapse!r} "
                         f"and params of type {type(params).__name__}")
    if grad_range is not None and not (len(grad_range) == 2 and 0 < grad_range[0] < grad_range[1]):
        raise ValueError(f"draw: grad_range must be (low, high) with 0 < low < high, got {grad_range!r}")
    show_grads = bool(show_grads) or grads is not None
    param_names, module_names, module_classes = _names(params)
    module_params = {id(m): sum(p.numel() for p in m.parameters()) for m in params.modules()} \
        if collapse is not None else {}
    if not cluster_modules and collapse is None:
        module_names = {}

    # ops nearest the outputs first; the first `max_nodes` within `depth` are drawn
    roots = [node for _, _, node in outputs if node is not None]
    order, distance = _breadth_first(roots)
    cut = len(order) if max_nodes is None else min(len(order), max_nodes)
    if depth is not None:
        cut = next((i for i, node in enumerate(order[:cut]) if distance[id(node)] > depth), cut)
    drawn, hidden = order[:cut], order[cut:]
    drawn_ids = {id(node) for node in drawn}

    graph = _graph_class()(name="minigrad", graph_attr=_graph_attributes(graph_attr, len(drawn)),
                           node_attr={"fontname": "Helvetica", "fontsize": "10", "margin": "0.08,0.04"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "9", "arrowsize": "0.6"})
    scene = _Scene(graphviz, param_names, module_names, module_classes)
    scene.model_class = type(params).__name__
    scene.input_names, scene.traced = inputs or {}, traced

    # ---- tensor boxes: leaves of drawn ops, then outputs --------------------------------
    leaf_ids = {}
    groups = _collapsed(drawn, params, module_names, collapse) if collapse is not None else {}
    inside = set() if collapse is None else _inside_collapsed(groups, params)
    for node in reversed(drawn):  # inputs first, so the DOT text reads in data-flow order
        for parent in node.parents:
            if isinstance(parent, Tensor) and id(parent) in inside:
                leaf_ids[id(parent)] = None  # a parameter of a collapsed module: counted in its box
            elif isinstance(parent, Tensor) and id(parent) not in leaf_ids:
                leaf_ids[id(parent)] = f"t{len(leaf_ids)}"
                scene.tensor_box(leaf_ids[id(parent)], parent, param_names.get(id(parent)),
                                 show_shapes, show_grads, grads)
        for tensor in _through(node):  # an input reaching this op through hidden ops (show_constants=False)
            if id(tensor) not in leaf_ids:
                leaf_ids[id(tensor)] = f"t{len(leaf_ids)}"
                scene.tensor_box(leaf_ids[id(tensor)], tensor, None, show_shapes, show_grads, grads)
    output_ids = []
    for index, (name, tensor, root) in enumerate(outputs):
        if root is None and id(tensor) in leaf_ids:  # a leaf given as an output: already drawn
            output_ids.append(None)
            continue
        output_ids.append(f"out{index}")
        scene.tensor_box(f"out{index}", tensor, name, show_shapes, show_grads, grads, output=True)

    # ---- op boxes (or, with collapse, one box per collapsed module call) and their arrows --
    op_ids = {id(node): f"op{i}" for i, node in enumerate(drawn)}
    group_ids = {}
    for node in drawn:
        if id(node) in groups:
            op_ids[id(node)] = group_ids.setdefault(id(groups[id(node)]), f"module{len(group_ids)}")
    hidden_id = "hidden" if hidden else None
    for node in reversed(drawn):
        if id(node) not in groups:
            scene.op_box(op_ids[id(node)], node, show_grads, grads)
        for parent, shape in zip(node.parents, node.shapes):
            if parent is None:
                continue
            if isinstance(parent, Tensor):
                if leaf_ids.get(id(parent)) is not None:
                    # an input into a module box: its shape, which the box lists among its inputs
                    label = _shape_text(shape) if show_shapes and id(node) in groups and \
                        id(parent) in scene.input_names else None
                    if (leaf_ids[id(parent)], op_ids[id(node)], label) not in scene.edges or id(node) not in groups:
                        scene.edge(leaf_ids[id(parent)], op_ids[id(node)], label,
                                   muted=traced and not parent._requires_grad)
                continue
            source = op_ids[id(parent)] if id(parent) in drawn_ids else hidden_id
            if source == op_ids[id(node)]:
                continue  # arrows inside a collapsed box are not drawn
            label = _shape_text(shape) if show_shapes and shape is not None else None
            if id(node) in groups and (source, op_ids[id(node)], label) in scene.edges:
                continue  # a module box takes one arrow per input, however many of its ops read it
            scene.edge(source, op_ids[id(node)], label, muted=not _needs_grad(parent))
        for tensor in _through(node):
            if (leaf_ids[id(tensor)], op_ids[id(node)], None) not in scene.edges:
                scene.edge(leaf_ids[id(tensor)], op_ids[id(node)], None, muted=True, dashed=True)
    for (name, tensor, root), out_id in zip(outputs, output_ids):
        if out_id is not None and root is not None and id(root) in drawn_ids:
            folded = id(root) in groups and show_shapes  # a module box lists its output shapes
            scene.edge(op_ids[id(root)], out_id, _shape_text(tensor.shape) if folded else None,
                       muted=not _needs_grad(root))
    drawn_groups = {}
    for node in drawn:
        if id(node) in groups:
            drawn_groups.setdefault(id(groups[id(node)]), groups[id(node)])
    for call in drawn_groups.values():
        scene.module_box(group_ids[id(call)], call, module_params.get(call.module_id, 0), show_shapes)

    if hidden:
        scene.hidden_box(hidden_id, hidden, set(leaf_ids), max_nodes, depth)
    if show_grads:
        scene.legend(grad_range)
    scene.emit(graph)
    return graph


def draw_call(function, *inputs, params=None, forward_kwargs: Mapping | None = None, show_constants: bool = True,
              show_shapes: bool = True, show_grads: bool = False, cluster_modules: bool = True,
              max_nodes: int | None = 300, depth: int | None = None, collapse: int | None = None,
              graph_attr: Mapping | None = None, grad_range: tuple | None = None):
    """Run `function(*inputs)` once and draw every op it ran, from its inputs to its outputs.

        mg.viz.draw_call(model, x)                      # also spelled mg.viz.draw(model, x)
        mg.viz.draw_call(lambda x, y: F.cross_entropy(model(x), y), x, y, params=model)

    Unlike `draw(loss)`, which walks back from the loss through the ops that
    need a gradient, this records the call as `mg.compile` captures it
    (minigrad.capture's Tracer), so it also sees the ops computed only from
    tensors that need no gradient (a mask, a position index, the random draw
    of dropout). Those, and tensors without gradient (buffers, constants), are
    drawn muted; the call's arguments are drawn as inputs, named by `.name`,
    else by the forward's argument name. Numbers an op takes are written in
    its box (`mul 0.125`). The model's buffers and the random generator are
    put back as they were, so drawing changes nothing.

    Args:
        function: an nn.Module, or a function of tensors (a loss of a model).
        *inputs: its positional arguments.
        params: names for parameters and module boxes (see `draw`); default:
            `function` when it is an nn.Module.
        forward_kwargs: keyword arguments of the call.
        show_constants: False hides the ops and tensors that need no gradient;
            an input that reaches the drawn ops only through them gets a dashed arrow.
        show_shapes, show_grads, cluster_modules, max_nodes, depth, collapse,
            graph_attr, grad_range: as in `draw` (show_grads colours the
            parameters by their current `.grad`).

    Returns:
        graphviz.Digraph, as `draw`.
    """

    if not callable(function):
        raise TypeError(f"draw_call: expected an nn.Module or a function to call, got {type(function).__name__}")
    if params is None and isinstance(function, Module):
        params = function
    kwargs = dict(forward_kwargs or {})
    module = params if isinstance(params, Module) else None
    tracer = DrawingTracer()
    buffers = [(b, b.array.copy()) for b in module.buffers() if b is not None] if module is not None else []
    rng = _random.get_rng_state()
    try:
        result, _ = tracer.capture(function, inputs, kwargs, module)
    finally:
        _random.set_rng_state(rng)
        for buffer, saved in buffers:
            if buffer.array.shape == saved.shape and not np.array_equal(buffer.array, saved, equal_nan=True):
                with buffer._writing() as array:
                    array[...] = saved
    # drawing needs no replay: a call mg.compile would refuse (Python read a value) is still drawn
    trace = tracer.trace
    flat = _flatten((inputs, kwargs))
    input_names = {}
    for (slot, path), name in zip(trace.inputs, _argument_names(function, inputs, kwargs, trace.inputs)):
        input_names[id(flat[path])] = name
    nodes = _trace_nodes(trace, tracer.calls, tracer.shapes, flat, show_constants)
    outputs = []
    for name, tensor, slot in _output_slots(trace.outputs, result, None):
        node = nodes.get(slot) if slot is not None else None
        outputs.append((name, tensor, node if isinstance(node, Function) else None))
    unnamed = [i for i, (name, _, _) in enumerate(outputs) if name is None]
    for count, i in enumerate(unnamed):
        name, tensor, node = outputs[i]
        outputs[i] = (tensor.name or ("output" if len(unnamed) == 1 else f"output {count}"), tensor, node)
    if not outputs:
        raise ValueError(f"draw_call: the call returned no tensor to draw (got {type(result).__name__})")
    return _draw(outputs, params, show_shapes, show_grads, cluster_modules, max_nodes, depth, collapse,
                 graph_attr, None, grad_range, inputs=input_names, traced=True)


def save(graph_or_tensors, path, format: str | None = None, **draw_kwargs) -> str:
    """Render a drawing to a file, atomically (a reader never sees a half-written file).

    Args:
        graph_or_tensors: a graph from `draw`, or a tensor (or list of
            tensors) to draw first with `draw_kwargs`.
        path: the file to write; its suffix gives the format (.svg, .png,
            .pdf, ... or .dot/.gv for the DOT text, which needs no `dot`).
        format: the format, if the suffix does not tell it.

    Returns:
        `path`, as a string.

    Raises:
        RuntimeError: if the Graphviz `dot` program is not installed.
    """
    graphviz = _import_graphviz()
    if isinstance(graph_or_tensors, graphviz.Digraph):
        if draw_kwargs:
            raise TypeError(f"save: got a drawn graph and draw() options {sorted(draw_kwargs)} - "
                            "pass the options to draw(), or pass tensors to save()")
        graph = graph_or_tensors
    elif isinstance(graph_or_tensors, (list, tuple)):
        graph = draw(*graph_or_tensors, **draw_kwargs)
    else:
        graph = draw(graph_or_tensors, **draw_kwargs)
    path = os.fspath(path)
    if format is None:
        format = os.path.splitext(path)[1].lstrip(".").lower()
        if not format:
            raise ValueError(f"save: cannot tell the format of {path!r} - give a path ending in "
                             ".svg, .png, .pdf or .dot, or pass format='svg'")
    if format in ("dot", "gv"):
        data = graph.source.encode("utf-8")
    else:
        with _dot_needed():
            data = graph.pipe(format=format)
    with atomic_write(path, "viz.save") as file:
        file.write(data)
    return path


class capture_gradients:
    """Record the norm of the gradient that reaches each op of a graph during backward.

    The engine keeps no gradient of intermediate tensors; this appends a hook
    (see `Tensor.register_hook`) to every node of the graph of `tensors` that
    stores `||grad||` (the 2-norm of the gradient of the node's output, in
    float64). Give the result to `draw(..., grads=...)` to colour the ops.
    Use it as a context manager, which removes the hooks on exit, or call
    `remove()` yourself. Build it BEFORE backward: hooks run during backward.
    If backward runs several times, the last norm is kept.

        with mg.viz.capture_gradients(loss) as grads:
            loss.backward()
        grads.norm(loss)     # the norm of d loss / d loss, 1.0
        mg.viz.draw(loss, params=model, grads=grads)

    Args:
        *tensors: outputs whose whole graph is hooked.
    """

    def __init__(self, *tensors):
        self.norms = {}      # id(node) -> float; nodes no gradient reached are absent
        self._nodes = {}     # id(node) -> weakref to the node, so a reused id is never mistaken for it
        self._hooked = []    # (the node's hook list, our hook), to remove them again
        roots = [t._node for _, t in _named_outputs(tensors) if t._node is not None]
        for node in _breadth_first(roots)[0]:
            hook = _NormHook(self.norms, id(node))
            if getattr(node, "hooks", None) is None:
                node.hooks = []
            node.hooks.append(hook)
            self._hooked.append((node.hooks, hook))
            self._nodes[id(node)] = weakref.ref(node)

    def __enter__(self) -> "capture_gradients":
        return self

    def __exit__(self, *exc) -> bool:
        self.remove()
        return False

    def remove(self) -> None:
        """Take the hooks off the graph (the recorded norms stay)."""
        for hooks, hook in self._hooked:
            for i in range(len(hooks) - 1, -1, -1):
                if hooks[i] is hook:
                    del hooks[i]
        self._hooked = []

    def norm(self, tensor_or_node) -> float | None:
        """The recorded gradient norm of a non-leaf tensor (or a node), or None if none reached it."""
        node = tensor_or_node._node if isinstance(tensor_or_node, Tensor) else tensor_or_node
        if node is None:
            return None
        ref = self._nodes.get(id(node))
        if ref is None or ref() is not node:
            return None
        return self.norms.get(id(node))

    def __len__(self) -> int:
        return len(self.norms)


# ---- helpers: the graph -----------------------------------------------------------------

class _NormHook:
    """A node hook that stores the gradient's norm and leaves the gradient unchanged."""
    __slots__ = ("norms", "key")

    def __init__(self, norms: dict, key: int):
        self.norms, self.key = norms, key

    def __call__(self, grad):
        self.norms[self.key] = _norm(grad.array)
        return None


def _breadth_first(roots: list) -> tuple:
    """Op nodes reachable from `roots`, nearest first, and each one's distance (roots: 1).

    Iterative, so a 100 000-op chain is fine.
    """
    order, distance = [], {}
    queue = deque()
    for node in roots:
        if id(node) not in distance:
            distance[id(node)] = 1
            queue.append(node)
    while queue:
        node = queue.popleft()
        order.append(node)
        d = distance[id(node)] + 1
        for parent in node.parents:
            if isinstance(parent, Function) and id(parent) not in distance:
                distance[id(parent)] = d
                queue.append(parent)
    return order, distance


def _named_outputs(tensors) -> list:
    """(label, tensor) for every output given to draw, each tensor once."""
    pairs = []
    for item in tensors:
        if isinstance(item, Tensor):
            pairs.append((item.name, item))
        elif isinstance(item, Mapping):
            for key, value in item.items():
                pairs.append((str(key), _check_tensor(value, key)))
        elif isinstance(item, (list, tuple)):
            pairs.extend((t.name, _check_tensor(t, i)) for i, t in enumerate(item))
        else:
            raise TypeError(f"draw: expected tensors (or lists or dicts of tensors) to draw, got "
                            f"{type(item).__name__}")
    unique, seen = [], set()
    for name, tensor in pairs:
        if id(tensor) not in seen:
            seen.add(id(tensor))
            unique.append((name, tensor))
    unnamed = [i for i, (name, _) in enumerate(unique) if name is None]
    for count, i in enumerate(unnamed):
        unique[i] = ("output" if len(unnamed) == 1 else f"output {count}", unique[i][1])
    return unique


def _check_tensor(value, where):
    if not isinstance(value, Tensor):
        raise TypeError(f"draw: output {where!r} is a {type(value).__name__}, expected a Tensor")
    return value


def _names(params) -> tuple:
    """id -> name for parameters, id -> qualified name and class for modules, from `params`."""
    if params is None:
        return {}, {}, {}
    named_modules = getattr(params, "named_modules", None)
    if callable(named_modules) and hasattr(params, "named_parameters"):
        param_names = {id(p): name for name, p in params.named_parameters()}
        for name, buffer in params.named_buffers():  # read by a drawn call (batch-norm statistics)
            if buffer is not None:
                param_names.setdefault(id(buffer), name)
        module_names, module_classes = {}, {}
        for name, module in named_modules():
            if name:  # the model itself is the whole drawing, not a box in it
                module_names[id(module)] = name
                module_classes[name] = type(module).__name__
        return param_names, module_names, module_classes
    items = params.items() if isinstance(params, Mapping) else params
    param_names = {}
    try:
        for name, tensor in items:
            param_names.setdefault(id(tensor), str(name))
    except (TypeError, ValueError):
        raise TypeError(f"draw: params must be an nn.Module, a dict name -> Tensor or (name, Tensor) "
                        f"pairs, got {type(params).__name__}") from None
    return param_names, {}, {}


def _collapsed(drawn: list, model, module_names: dict, collapse: int) -> dict:
    """id(node) -> the module call it is folded into: the call at nesting depth `collapse` + 1 that
    it was recorded in (depth 1: a top-level child; the model's own call is depth 0)."""
    groups = {}
    for node in drawn:
        chain = []  # the node's calls, outermost first: the model's own call, then named ones
        call = node.module_call
        while call is not None:
            if call.module_id in module_names or call.module_id == id(model):
                chain.append(call)
            call = call.parent
        chain.reverse()
        if chain and chain[0].module_id == id(model) and len(chain) > collapse:
            groups[id(node)] = chain[collapse]
    return groups


def _inside_collapsed(groups: dict, model) -> set:
    """ids of the parameters of modules drawn as one box (`groups`, as _collapsed gives them): their
    box shows the count instead."""
    folded_modules = {call.module_id for call in groups.values()}
    return {id(p) for m in model.modules() if id(m) in folded_modules
            for p in list(m.parameters()) + [b for b in m.buffers() if b is not None]}


# ---- helpers: drawing a call from its trace ----------------------------------------------

class _TracedOp(Function):
    """One step of a call's trace standing in for a graph node, so one drawing code draws both."""
    name = shapes = None   # set per step (a recorded node computes them)
    needs_grad = True      # False: recorded by no graph node (all its inputs need no gradient)
    through = ()           # inputs that reach it only through hidden ops (show_constants=False)
    numpy = False          # numpy work outside primitives (a dropout mask being drawn)
    single_use = False     # its value is read by one step only (a numpy chain folds into one box)
    more_lines = ()        # the later steps of such a chain, one line each


def _needs_grad(node) -> bool:
    return getattr(node, "needs_grad", True)


def _more_lines(node) -> tuple:
    return getattr(node, "more_lines", ())


def _through(node) -> tuple:
    return getattr(node, "through", ())


class _Computed:
    """A setting whose value the call computed (an index array): drawn as its shape."""

    def __init__(self, shape):
        self.shape = shape

    def __str__(self):
        return "tensor" if self.shape is None else f"tensor{_shape_text(self.shape)}"


class DrawingTracer(Tracer):
    """minigrad.capture's Tracer, also noting the module call each step ran in and numpy results' shapes."""

    def __init__(self):
        super().__init__()
        self.calls = {}    # step index -> the scope.ModuleCall it ran in (or None)
        self.shapes = {}   # step index -> (shape, dtype) of a numpy step's result

    def record(self, cls, args, kwargs):
        self.calls[len(self.trace.steps)] = scope._state.current  # a primitive is recorded as one step
        return super().record(cls, args, kwargs)

    def numpy_call(self, fn, args, kwargs):
        start, call = len(self.trace.steps), scope._state.current
        result = super().numpy_call(fn, args, kwargs)
        parts = result if type(result) in (tuple, list) else (result,)
        for index in range(start, len(self.trace.steps)):
            self.calls[index] = call
            step = self.trace.steps[index]
            if step.output is None:
                continue
            part = parts[step.args[1]] if step.target is operator.getitem and len(parts) > 1 else result
            if isinstance(part, np.ndarray):
                self.shapes[index] = (part.shape, part.dtype)
        return result


def _trace_nodes(trace, calls: dict, shapes: dict, flat: list, show_constants: bool) -> dict:
    """slot -> what made it: a _TracedOp per step (numpy steps in a chain share one), or the leaf
    Tensor (an input, a parameter, a buffer, a constant array the call used)."""

    inputs = {id(flat[path]): flat[path] for _, path in trace.inputs}
    made = {}
    for slot, path in trace.inputs:
        made[slot] = flat[path]
    for slot, tensor in trace.externals:
        made.setdefault(slot, tensor)
    uses = {}
    for step in trace.steps:
        for slot in (step.args if step.kind == "primitive" else _slots(step.args) + _slots(step.kwargs)):
            uses[slot] = uses.get(slot, 0) + 1
    ops, reach = [], {}  # reach: id(op needing no gradient) -> the inputs above it, through such ops

    def source(slot, texts):
        """The node or leaf for an input slot, or None for a number (its text goes into `texts`)."""
        if slot in made:
            return made[slot]
        value = trace.constants.get(slot)
        if isinstance(value, np.ndarray) and value.size > 4:
            made[slot] = _make(value)  # an array the library made (np.arange): a constant box
            return made[slot]
        if value is not None:
            texts.append(_value_text(value))
        return None

    for index, step in enumerate(trace.steps):
        if step.kind == "guard" or step.output is None:
            continue  # a check, or an in-place write (batch-norm statistics): no value flows on
        texts, parents = [], []
        if step.kind == "primitive":
            for slot in step.args:
                parent = source(slot, texts)
                if parent is not None:
                    parents.append(parent)
            settings = _settings(step.kwargs, made, parents)
            name = _primitive_name(step.target)
            shape, dtype = step.shape, step.dtype
        else:
            name = _numpy_name(step)
            settings = {k: v for k, v in _settings(step.kwargs, made, parents).items() if k != "out"}
            for value in step.args:
                if type(value) is Slot:
                    parent = source(value.index, texts)
                    if parent is not None:
                        parents.append(parent)
                elif _slots(value):  # an index tuple holding computed arrays
                    settings.update(_settings({"index" if name == "getitem" else "args": value}, made, parents))
                elif step.kind == "numpy" and (value is None or isinstance(value, (int, float, np.generic)) or
                                               (isinstance(value, np.ndarray) and value.size <= 4)):
                    texts.append(_value_text(value))
            shape, dtype = shapes.get(index, (None, None))
            previous = parents[0] if len(parents) == 1 else None
            if isinstance(previous, _TracedOp) and previous.numpy and previous.single_use:
                # one box per chain of numpy work (draw random -> less 0.1 -> multiply 1.111)
                previous.more_lines = previous.more_lines + ("→ " + " ".join([name] + texts),)
                previous.attributes = dict(previous.attributes, **settings)
                previous.out_shape, previous.out_dtype = shape, dtype
                previous.single_use = uses.get(step.output, 0) == 1
                made[step.output] = previous
                continue
        op = _new(_TracedOp)
        op.name = " ".join([name] + texts)
        op.attributes = settings
        op.parents = parents
        op.out_shape, op.out_dtype = shape, dtype
        op.module_call = calls.get(index)
        op.needs_grad = step.kind == "primitive" and step.parents is not None
        op.numpy = step.kind != "primitive"
        op.single_use = uses.get(step.output, 0) == 1
        if not op.needs_grad:
            above = {}
            for parent in parents:
                if isinstance(parent, Tensor) and id(parent) in inputs:
                    above[id(parent)] = parent
                elif isinstance(parent, _TracedOp) and not parent.needs_grad:
                    above.update(reach[id(parent)])
            reach[id(op)] = above
        made[step.output] = op
        ops.append(op)

    for op in ops:
        if not show_constants:
            kept, through = [], {}
            for parent in op.parents:
                if isinstance(parent, Tensor):
                    kept.append(parent if parent._requires_grad or id(parent) in inputs else None)
                elif parent.needs_grad:
                    kept.append(parent)
                else:
                    kept.append(None)
                    through.update(reach[id(parent)])
            op.parents = kept
            op.through = [t for key, t in through.items() if not any(p is t for p in kept)]
        op.shapes = [None if p is None else p.shape if isinstance(p, Tensor) else p.out_shape for p in op.parents]
    return made


def _settings(kwargs, made: dict, parents: list) -> dict:
    """A step's settings for its box: values the call computed (Slots) become their shape, and what
    made them becomes an input of the box (the class indices cross-entropy picks with)."""

    def text(value):
        if type(value) is Slot:
            parent = made.get(value.index)
            if parent is not None and not any(p is parent for p in parents):
                parents.append(parent)
            return _Computed(None if parent is None else parent.shape if isinstance(parent, Tensor)
                             else parent.out_shape)
        if type(value) in (tuple, list):
            return type(value)(text(v) for v in value)
        if type(value) is dict:
            return {k: text(v) for k, v in value.items()}
        return value
    return {key: text(value) for key, value in (kwargs or {}).items()}


def _primitive_name(cls) -> str:
    try:
        return _new(cls).name  # what an eager node of the op is called
    except Exception:  # a name property that reads state forward sets
        return cls.__name__.lower()


def _numpy_name(step) -> str:
    target = step.target
    if step.kind == "draw":
        return f"draw {target.__name__}"
    owner = getattr(target, "__self__", None)
    if isinstance(owner, np.ufunc):  # np.less(...) arrives as the ufunc's bound __call__
        return owner.__name__ + ("" if target.__name__ == "__call__" else f".{target.__name__}")
    name = getattr(target, "__name__", None) or type(target).__name__
    return {"__getitem__": "getitem", "getitem": "getitem"}.get(name, name)


def _output_slots(template, result, name):
    """(name or None, tensor, slot or None) for each tensor a call returned, walking its trace template."""
    if type(template) in (Slot, Plain) and isinstance(result, Tensor):
        yield name, result, template.index
    elif type(template) in (AsItCame, Argument):  # returned as it came in
        if isinstance(result, Tensor):
            yield name, result, None
    elif type(template) is NamedTupleOf:
        for field, part, value in zip(template.cls._fields, template.parts, result):
            yield from _output_slots(part, value, field)
    elif type(template) in (tuple, list):
        for part, value in zip(template, result):
            yield from _output_slots(part, value, None)
    elif type(template) is dict:
        for key, part in template.items():
            yield from _output_slots(part, result[key], str(key))


def _argument_names(function, inputs: tuple, kwargs: dict, trace_inputs: list) -> list:
    """The name of each traced input: its argument's name in the forward (`x`; `xs[1]` inside a list)."""
    target = getattr(function, "forward", function) if not inspect.isfunction(function) else function
    try:
        parameters = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    rest = next((p.name for p in parameters if p.kind is p.VAR_POSITIONAL), None)
    names = []
    arguments = [(positional[i] if i < len(positional) else f"{rest or 'input'}[{i - len(positional)}]"
                  if rest or len(inputs) > 1 else "input", value) for i, value in enumerate(inputs)]
    for base, value in arguments + list(kwargs.items()):
        leaves = _flatten(value)
        names += [base] if isinstance(value, Tensor) else [f"{base}[{j}]" for j in range(len(leaves))]
    return [names[path] if path < len(names) else "input" for _, path in trace_inputs]


# ---- helpers: what the boxes say --------------------------------------------------------

def _shape_text(shape) -> str:
    return str(tuple(int(n) for n in shape))


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_LABEL else text[:_MAX_LABEL - 3] + "..."


def _value_text(value) -> str:
    """A setting's value, short: numbers with 4 significant digits, big arrays as their shape."""
    if isinstance(value, np.ndarray):
        if value.dtype == np.bool_:
            return f"mask{_shape_text(value.shape)}"
        if value.size <= 4:
            return "[" + ", ".join(_value_text(v) for v in value.reshape(-1).tolist()) + "]" \
                if value.ndim else _value_text(value.item())
        return f"{value.dtype}{_shape_text(value.shape)}"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return str(np.dtype(value))
    if isinstance(value, slice):
        return _slice_text(value)
    if value is Ellipsis:
        return "..."
    if isinstance(value, tuple):
        return "(" + ", ".join(_value_text(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    return str(value)


def _slice_text(s: slice) -> str:
    text = ("" if s.start is None else str(s.start)) + ":" + ("" if s.stop is None else str(s.stop))
    return text + (f":{s.step}" if s.step is not None else "")


def _index_text(index) -> str:
    parts = index if isinstance(index, tuple) else (index,)
    return "[" + ", ".join("None" if p is None else _value_text(p) for p in parts) + "]"


def _pair_text(pair) -> str:
    a, b = pair
    return str(a) if a == b else f"({a}, {b})"


def _geometry_text(geometry) -> list:
    """conv2d/max_pool2d/unfold settings: (input_shape, kernel, stride, padding, dilation)."""
    try:
        _, kernel, stride, padding, dilation = geometry
        parts = [f"{kernel[0]}x{kernel[1]}", f"stride={_pair_text(stride)}", f"pad={_pair_text(padding)}"]
        if tuple(dilation) != (1, 1):
            parts.append(f"dil={_pair_text(dilation)}")
        return parts
    except (TypeError, ValueError, IndexError):
        return [f"geometry={_value_text(geometry)}"]


def _op_title(node) -> str:
    """`conv2d 3x3 stride=1 pad=1`, `sum dim=(1,) keepdim`, `reshape (64, -1)`, `getitem [:, 0]`."""
    name = node.name
    parts = [name]
    for key, value in (getattr(node, "attributes", None) or {}).items():
        if key == "geometry":
            parts.extend(_geometry_text(value))
        elif key == "index":
            parts.append(_index_text(value))
        elif key == "shape" or (key == "axes" and name == "permute"):
            parts.append(_value_text(tuple(value)) if isinstance(value, (tuple, list)) else _value_text(value))
        elif key in ("axis", "axes", "dim"):
            if value is not None:
                parts.append(f"dim={_value_text(value)}")
        elif key == "keepdims":
            if value:
                parts.append("keepdim")
        elif key == "dtype":
            parts.append(_value_text(np.dtype(value)))
        elif key == "unique" or value is None:
            continue  # a speed hint, or a setting left at "none"
        else:
            parts.append(f"{key}={_value_text(value)}")
    return _cut(" ".join(parts))


# ---- helpers: gradient colours ----------------------------------------------------------

def _norm(array) -> float:
    array = np.asarray(array)
    if array.dtype.kind not in "fc":
        array = array.astype(np.float64)
    # float64 so that an exploding float32 gradient (~1e20 per entry) does not overflow the norm
    return float(np.sqrt(np.sum(np.square(np.abs(array), dtype=np.float64))))


def _norm_text(norm: float) -> str:
    if norm == 0:
        return "0"
    if not math.isfinite(norm):
        return str(norm)
    return f"{norm:.2e}"


def _scale_colour(t: float) -> tuple:
    """(fill, font colour) at position t in [0, 1] of the white -> red scale."""
    t = min(1.0, max(0.0, t))
    rgb = [round(lo + (hi - lo) * t) for lo, hi in zip(_LOW_RGB, _HIGH_RGB)]
    return "#%02x%02x%02x" % tuple(rgb), ("white" if t > 0.6 else "black")


# ---- building the DOT ---------------------------------------------------------------------

class _Scene:
    """Boxes and arrows collected for one drawing, then written out grouped into module clusters."""

    def __init__(self, graphviz, param_names, module_names, module_classes):
        self.graphviz = graphviz
        self.param_names = param_names
        self.module_names = module_names        # id(module) -> qualified name
        self.module_classes = module_classes    # qualified name -> class name
        self.model_class = None  # the class of the model given as params, for its box under collapse=0
        self.nodes = []    # (cluster qualified name or None, id, label, attributes, norm or None)
        self.edges = []    # (tail, head, label)
        self.edge_styles = {}  # (tail, head) -> graphviz attributes of a muted or dashed arrow
        self.input_names = {}  # id(tensor) -> name, for the arguments of a drawn call
        self.traced = False    # the drawing is of a call's trace: tensors without grad are drawn muted

    # -- boxes --
    def tensor_box(self, box_id, tensor, name, show_shapes, show_grads, grads, output=False):
        param = id(tensor) in self.param_names
        given = self.input_names.get(id(tensor)) if not output else None
        lines = [name or tensor.name or given or ("constant" if self.traced else "tensor")]
        if show_shapes:
            lines.append(f"{_shape_text(tensor.shape)} {tensor.dtype}")
        norm = None
        attrs = {"shape": "box", "style": "filled",
                 "fillcolor": _OUTPUT_FILL if output else (_PARAM_FILL if param else _LEAF_FILL)}
        if given is not None:
            attrs["fillcolor"], attrs["shape"] = _INPUT_FILL, "cds"
        elif self.traced and not output and not tensor._requires_grad:
            attrs.update(_MUTED)  # a buffer, a frozen parameter, a constant the call made
        if output:
            attrs["peripheries"] = "2"
            if not tensor._requires_grad and not self.traced:
                lines.append("(not recorded: requires_grad=False)")
        if show_grads:
            if tensor.grad is not None:
                norm = _norm(tensor.grad.array)
            elif grads is not None and tensor._node is not None:
                norm = grads.norm(tensor)
            if norm is not None:
                lines.append(f"grad norm {_norm_text(norm)}")
            elif not output:
                lines.append("no grad")
                attrs["fillcolor"] = _NO_GRAD_FILL
        cluster = None
        if param and self.module_names:
            # placed in its module's box, or the nearest one above, once the boxes are known
            cluster = ("owner", self.param_names[id(tensor)].rpartition(".")[0])
        self.nodes.append((cluster, box_id, lines, attrs, norm))

    def op_box(self, box_id, node, show_grads, grads):
        lines = [_op_title(node), *_more_lines(node)]
        norm = None
        if show_grads and grads is not None:
            norm = grads.norm(node)
            lines.append("no grad" if norm is None else f"grad norm {_norm_text(norm)}")
        attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": _OP_FILL}
        if not _needs_grad(node):
            attrs.update(_MUTED)
        self.nodes.append((self._named_call(node.module_call), box_id, lines, attrs, norm))

    def _named_call(self, call):
        """The innermost call of a module that has a name in the drawing (the model itself has none)."""
        while call is not None and call.module_id not in self.module_names:
            call = call.parent
        return call

    def module_box(self, box_id, call, parameter_count: int, show_shapes: bool):
        """One box for a whole module call (draw's `collapse`): class, shapes in and out, parameters."""
        name = self.module_names.get(call.module_id, "")
        kind = self.module_classes.get(name) or self.model_class
        lines = [f"{name} ({kind})" if name else kind]
        if show_shapes:
            into = {tail: label for tail, head, label in self.edges if head == box_id and label}
            out = {head: label for tail, head, label in self.edges if tail == box_id and label}
            lines.append("in " + (", ".join(dict.fromkeys(into.values())) or "-") +
                         "  ->  out " + (", ".join(dict.fromkeys(out.values())) or "-"))
        lines.append(f"{parameter_count:,} parameters")
        attrs = {"shape": "box3d", "style": "filled", "fillcolor": _MODULE_FILL}
        self.nodes.append((self._named_call(call.parent), box_id, lines, attrs, None))

    def hidden_box(self, box_id, hidden, drawn_leaves, max_nodes, depth):
        leaves = set()
        for node in hidden:
            for parent in node.parents:
                if isinstance(parent, Tensor) and id(parent) not in drawn_leaves:
                    leaves.add(id(parent))
        lines = [f"... {len(hidden)} more ops hidden"]
        if leaves:
            lines.append(f"(and {len(leaves)} leaf tensor{'s' if len(leaves) > 1 else ''})")
        limits = [f"max_nodes={max_nodes}"] if max_nodes is not None else []
        limits += [f"depth={depth}"] if depth is not None else []
        lines.append(", ".join(limits))
        attrs = {"shape": "box", "style": "dashed,filled", "fillcolor": _HIDDEN_FILL}
        self.nodes.append((None, box_id, lines, attrs, None))

    def edge(self, tail, head, label=None, muted=False, dashed=False):
        self.edges.append((tail, head, label))
        if muted or dashed:
            style = dict(color=_MUTED["color"], fontcolor=_MUTED["fontcolor"]) if muted else {}
            self.edge_styles[(tail, head)] = dict(style, style="dashed") if dashed else style

    def legend(self, grad_range):
        norms = [n for *_, n in self.nodes if n is not None]
        logs = [math.log10(n) for n in norms if n > 0 and math.isfinite(n)]
        if grad_range is not None:
            self.low, self.high = math.log10(grad_range[0]), math.log10(grad_range[1])
        elif logs:
            self.low, self.high = min(logs), max(logs)
        else:
            self.low = self.high = None
        if not norms:
            text = "no gradients to show: call backward() before draw(..., show_grads=True)"
            self.nodes.append((None, "legend", [text], {"shape": "note"}, None))
            return
        # colour every box that has a norm
        for i, (cluster, box_id, lines, attrs, norm) in enumerate(self.nodes):
            if norm is None:
                continue
            attrs = dict(attrs)
            if not math.isfinite(norm):
                attrs["fillcolor"], attrs["fontcolor"] = _NONFINITE_FILL, "white"
            elif norm == 0:
                attrs["fillcolor"], attrs["fontcolor"] = _ZERO_FILL, "black"
                attrs["style"] += ",dashed"
            else:
                attrs["fillcolor"], attrs["fontcolor"] = _scale_colour(self._position(norm))
            self.nodes[i] = (cluster, box_id, lines, attrs, norm)
        cells = []
        if any(n == 0 for n in norms):
            cells.append(("0", _ZERO_FILL, "black"))
        if self.low is not None and self.low == self.high:
            cells.append((_norm_text(10 ** self.low), *_scale_colour(0.5)))
        elif self.low is not None:
            for k in range(5):
                t = k / 4
                cells.append((_norm_text(10 ** (self.low + t * (self.high - self.low))), *_scale_colour(t)))
        if any(not math.isfinite(n) for n in norms):
            cells.append(("nan/inf", _NONFINITE_FILL, "white"))
        row = "".join(f'<td bgcolor="{fill}"><font color="{font}">{text}</font></td>'
                      for text, fill, font in cells)
        html = (f'<<table border="0" cellborder="1" cellspacing="0" cellpadding="4">'
                f'<tr><td colspan="{len(cells)}">gradient norm (log scale)</td></tr><tr>{row}</tr></table>>')
        self.nodes.append((None, "legend", html, {"shape": "plaintext"}, None))

    def _position(self, norm: float) -> float:
        if self.high == self.low:
            return 0.5
        return (math.log10(norm) - self.low) / (self.high - self.low)

    # -- writing --
    def emit(self, graph) -> None:
        boxes = self._module_boxes()  # key -> (parent key or None, Digraph)
        first_call = {}  # qualified name -> the box of the module's first drawn call (its parameters go there)
        for key, (_, body, name) in reversed(list(boxes.items())):
            first_call[name] = key

        for cluster, box_id, lines, attrs, _ in self.nodes:
            if isinstance(cluster, tuple):  # a parameter: its module's first call, or the nearest above
                name = cluster[1]
                while name and name not in first_call:
                    name = name.rpartition(".")[0]
                key = first_call.get(name) if name else None
            else:
                key = id(cluster) if cluster is not None else None
            label = lines if isinstance(lines, str) else \
                self.graphviz.nohtml("\\n".join(self.graphviz.escape(_cut(line)) for line in lines))
            (boxes[key][1] if key is not None else graph).node(box_id, label=label, **attrs)
        for tail, head, label in self.edges:
            style = self.edge_styles.get((tail, head), {})
            if label is None:
                graph.edge(tail, head, **style)
            else:
                graph.edge(tail, head, label=" " + label, **style)

        # nest the boxes, innermost first: a subgraph's text is copied into its parent when added
        def depth(key):
            return 0 if boxes[key][0] is None else 1 + depth(boxes[key][0])
        for key in sorted(boxes, key=depth, reverse=True):
            parent = boxes[key][0]
            (boxes[parent][1] if parent is not None else graph).subgraph(boxes[key][1])

    def _module_boxes(self) -> dict:
        """One box per module call that recorded a drawn op, and per call it was made in; between a
        call and its caller, one box per container it was reached through (a ModuleList is never
        called). Returns key -> (parent key or None, graphviz Digraph, qualified name), in call order."""
        calls = {}
        for cluster, *_ in self.nodes:
            call = cluster if isinstance(cluster, scope.ModuleCall) else None
            while call is not None:
                calls[id(call)] = call
                call = self._named_call(call.parent)
        ordered = sorted(calls.values(), key=lambda call: call.sequence)
        count, number = {}, {}  # a module called more than once: "· call 2", in call order
        for call in ordered:
            count[call.module_id] = count.get(call.module_id, 0) + 1
            number[id(call)] = count[call.module_id]
        boxes = {}
        for call in ordered:
            name = self.module_names[call.module_id]
            caller = self._named_call(call.parent)
            parent = None if caller is None else id(caller)
            prefix = "" if caller is None else self.module_names[caller.module_id]
            parts = name.split(".")
            for i in range(1, len(parts)):  # containers between the caller and this call
                container = ".".join(parts[:i])
                if container in self.module_classes and len(container) > len(prefix) and \
                        (not prefix or container.startswith(prefix + ".")):
                    key = (parent, container)
                    if key not in boxes:
                        title = f"{container} ({self.module_classes[container]})"
                        boxes[key] = (parent, self._box(container, title, ""), container)
                    parent = key
            several = count[call.module_id] > 1
            title = f"{name} ({self.module_classes[name]})" + (f" · call {number[id(call)]}" if several else "")
            boxes[id(call)] = (parent, self._box(name, title, f"_call{number[id(call)]}" if several else ""), name)
        return boxes

    def _box(self, name: str, title: str, suffix: str):
        body = self.graphviz.Digraph(name=f"cluster_{name}{suffix}")
        body.attr(label=title, style="rounded", color="#7f7f7f", fontname="Helvetica", fontsize="10",
                  labeljust="l")
        return body


# ---- helpers: graphviz --------------------------------------------------------------------

def _import_graphviz():
    try:
        import graphviz
    except ImportError:
        raise ModuleNotFoundError("mg.viz needs the graphviz Python package: pip install graphviz "
                                  "(and the Graphviz `dot` program to render: apt-get install graphviz "
                                  "or brew install graphviz)") from None
    return graphviz


class _dot_needed:
    """Turn graphviz.ExecutableNotFound into a RuntimeError that says how to install `dot`."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        graphviz = _import_graphviz()
        if kind is not None and issubclass(kind, graphviz.ExecutableNotFound):
            raise RuntimeError(_INSTALL_DOT) from error
        return False


_GRAPH_CLASS = None


def _graph_class():
    """graphviz.Digraph, whose rendering explains how to install `dot` when it is missing.

    Made on first use, so that importing minigrad does not import graphviz.
    """
    global _GRAPH_CLASS
    if _GRAPH_CLASS is None:
        graphviz = _import_graphviz()

        class Graph(graphviz.Digraph):
            """A minigrad drawing: a graphviz.Digraph (`.source`, `.render`, Jupyter display)."""

            def pipe(self, *args, **kwargs):
                with _dot_needed():
                    return super().pipe(*args, **kwargs)

            def render(self, *args, **kwargs):
                with _dot_needed():
                    return super().render(*args, **kwargs)

        _GRAPH_CLASS = Graph
    return _GRAPH_CLASS


def _graph_attributes(overrides, op_count: int = 0) -> dict:
    attributes = {"rankdir": "TB", "fontname": "Helvetica", "fontsize": "11",
                  "nodesep": "0.25", "ranksep": "0.35"}
    if op_count > 80:  # a large graph: tighter ranks, one arrow for parallel ones, so it stays legible
        attributes.update(nodesep="0.15", ranksep="0.22", concentrate="true")
    attributes.update({str(k): str(v) for k, v in (overrides or {}).items()})
    return attributes
