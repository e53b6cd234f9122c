"""mg.viz: the DOT text of known graphs (boxes, arrows, labels, clusters, colours, collapsing),
and, where Graphviz's `dot` is installed, rendering to SVG and PNG."""
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("graphviz")
import graphviz  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad import viz  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")


# ---- reading the DOT text back --------------------------------------------------------------

_LABEL = re.compile(r'label=("(?:[^"\\]|\\.)*"|<.*>|[^\s\]]+)')


def _unquote(text):
    return text[1:-1] if text.startswith('"') else text


def parse(source):
    """{node id: (label, attributes text, innermost cluster or None)}, [(tail, head, edge label)], clusters."""
    nodes, edges, clusters, stack = {}, [], [], []
    for line in source.splitlines():
        line = line.strip()
        match = re.match(r'^subgraph "?cluster_([^" ]+)"? \{$', line)
        if match:
            clusters.append(match[1])
            stack.append(match[1])
            continue
        if line == "}":
            if stack:
                stack.pop()
            continue
        match = re.match(r'^(\w+) -> (\w+)(?: \[(.*)\])?$', line)
        if match:
            label = _LABEL.search(match[3] or "")
            edges.append((match[1], match[2], _unquote(label[1]).strip() if label else None))
            continue
        match = re.match(r'^(\w+) \[(.*)\]$', line)
        if match and match[1] not in ("graph", "node", "edge"):
            label = _LABEL.search(match[2])
            nodes[match[1]] = (_unquote(label[1]) if label else "", match[2], stack[-1] if stack else None)
    return nodes, edges, clusters


def first_line(label):
    return label.split("\\n")[0]


def by_title(nodes):
    """first label line -> node id; a title that several boxes share maps to None."""
    titles = {}
    for node_id, (label, _, _) in nodes.items():
        title = first_line(label)
        titles[title] = None if title in titles else node_id
    return titles


def fill(nodes, node_id):
    return re.search(r'fillcolor="?(#[0-9a-f]{6}|\w+)', nodes[node_id][1])[1]


def small_graph():
    """loss = (x * w + b).sum() with x (4, 3), w (4, 3), b (3,) all requiring grad."""
    mg.manual_seed(0)
    x = mg.randn(4, 3, requires_grad=True)
    x.name = "x"
    w = mg.randn(4, 3, requires_grad=True)
    b = mg.randn(3, requires_grad=True)
    loss = (x * w + b).sum()
    loss.name = "loss"
    return x, w, b, loss


# ---- structure --------------------------------------------------------------------------

def test_small_graph_has_one_box_per_op_leaf_and_output_and_data_flow_arrows():
    x, w, b, loss = small_graph()
    graph = viz.draw(loss, params={"w": w, "b": b})
    assert isinstance(graph, graphviz.Digraph)
    nodes, edges, clusters = parse(graph.source)
    assert len(nodes) == 7 and len(edges) == 6 and clusters == []
    assert sorted(n[:-1] for n in nodes if n != "legend") == ["op"] * 3 + ["out"] + ["t"] * 3
    t = by_title(nodes)
    assert set(t) == {"x", "w", "b", "mul", "add", "sum", "loss"}
    arrows = {(first_line(nodes[a][0]), first_line(nodes[b][0])) for a, b, _ in edges}
    assert arrows == {("x", "mul"), ("w", "mul"), ("mul", "add"), ("b", "add"), ("add", "sum"), ("sum", "loss")}
    assert nodes[t["w"]][0] == "w\\n(4, 3) float32"
    assert nodes[t["b"]][0] == "b\\n(3,) float32"
    assert nodes[t["loss"]][0] == "loss\\n() float32"
    # arrows leaving an op carry the shape of the tensor on them; arrows from leaves do not
    labels = {(first_line(nodes[a][0]), first_line(nodes[b][0])): label for a, b, label in edges}
    assert labels[("mul", "add")] == "(4, 3)" and labels[("add", "sum")] == "(4, 3)"
    assert labels[("x", "mul")] is None and labels[("sum", "loss")] is None
    # parameters and other leaves look different, and outputs have a double border
    assert fill(nodes, t["w"]) == fill(nodes, t["b"]) != fill(nodes, t["x"])
    assert "peripheries=2" in nodes[t["loss"]][1]
    source = viz.draw(loss, graph_attr={"rankdir": "LR"}).source
    assert "rankdir=LR" in source and "rankdir=TB" not in source


def test_constants_and_tensors_without_grad_are_not_drawn_and_a_reused_input_has_two_arrows():
    x = mg.randn(3, requires_grad=True)
    data = mg.ones(3)
    nodes, edges, _ = parse(viz.draw((x * 2 + data).sum()).source)
    assert len(nodes) == 5 and len(edges) == 4  # x, mul, add, sum, output
    assert {first_line(label) for label, _, _ in nodes.values()} == {"tensor", "mul", "add", "sum", "output"}

    nodes, edges, _ = parse(viz.draw(x * x).source)
    t = by_title(nodes)
    assert len(nodes) == 3
    assert [(a, b) for a, b, _ in edges].count((t["tensor"], t["mul"])) == 2


def test_op_labels_show_their_settings_shortly():
    mg.manual_seed(0)
    x = mg.randn(2, 3, 8, 8, requires_grad=True)
    y = mg.conv2d(x, mg.randn(4, 3, 3, 3), padding=1)
    z = mg.conv2d(y, mg.randn(2, 4, 3, 3), stride=2, padding=(0, 1), dilation=(2, 1))
    a = z[:, 0, 1:3, ::2].reshape(2, -1).sum(dim=1, keepdim=True)
    b = mg.cat([a, a], 1).to(mg.float64)[1, [0, 1]]
    c = y.permute(0, 2, 3, 1)[np.array([True, False])][..., np.array([0, 1, 2, 3, 3, 2], dtype=np.int64), None].clamp(min=0.0)
    titles = {first_line(label) for label, _, _ in parse(viz.draw(b, c).source)[0].values()}
    for expected in ["conv2d 3x3 stride=1 pad=1", "conv2d 3x3 stride=2 pad=(0, 1) dil=(2, 1)",
                     "getitem [:, 0, 1:3, ::2]", "reshape (2, -1)", "sum dim=(1,) keepdim", "cat dim=1",
                     "cast float64", "permute (0, 2, 3, 1)", "getitem [mask(2,)]",
                     "getitem [..., int64(6,), None]", "clamp min=0", "getitem [1, [0, 1]]"]:
        assert expected in titles, f"{expected!r} not among {sorted(titles)}"
    # a long setting is cut, not spread over the whole drawing
    long = mg.pad(x, (1, 1, 2, 2, 3, 3, 0, 0), value=0.5)
    titles = [first_line(label) for label, _, _ in parse(viz.draw(long).source)[0].values()]
    assert "pad widths=((0, 0), (3, 3), (2, 2), (1, 1)) v..." in titles
    assert all(len(title) <= viz._MAX_LABEL for title in titles)


def test_show_shapes_false_draws_names_only():
    x, w, b, loss = small_graph()
    nodes, edges, _ = parse(viz.draw(loss, params={"w": w, "b": b}, show_shapes=False).source)
    assert len(nodes) == 7 and len(edges) == 6
    assert all("(" not in label and "float32" not in label for label, _, _ in nodes.values())
    assert all(label is None for _, _, label in edges)


def test_outputs_are_named_by_dict_key_or_name_and_drawn_once():
    x = mg.randn(3, requires_grad=True)
    h = x.exp()
    y = h.sum()
    nodes, edges, _ = parse(viz.draw({"hidden": h, "total": y}).source)
    t = by_title(nodes)
    assert len(nodes) == 5 and len(edges) == 4  # x, exp, sum, hidden, total
    assert (t["exp"], t["hidden"], None) in edges and (t["sum"], t["total"], None) in edges

    nodes, _, _ = parse(viz.draw(h, y, y).source)
    assert {"output 0", "output 1"} <= set(by_title(nodes)) and len(nodes) == 5

    nodes, edges, _ = parse(viz.draw(mg.ones(2)).source)  # nothing was recorded
    assert len(nodes) == 1 and edges == []
    assert "requires_grad=False" in next(iter(nodes.values()))[0]


def test_bad_arguments_are_named_in_the_error():
    x = mg.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match="at least one tensor"):
        viz.draw()
    with pytest.raises(TypeError, match="expected tensors"):
        viz.draw(3.0)
    with pytest.raises(ValueError, match="max_nodes"):
        viz.draw(x * 2, max_nodes=0)
    with pytest.raises(ValueError, match="depth"):
        viz.draw(x * 2, depth=0)
    with pytest.raises(TypeError, match="params"):
        viz.draw(x * 2, params=5)


# ---- modules and clusters ----------------------------------------------------------------

class Affine(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(mg.randn(n_out, n_in) * 0.5)
        self.bias = nn.Parameter(mg.zeros(n_out))

    def forward(self, x):
        return x @ self.weight.T + self.bias


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc1 = Affine(d, d)
        self.fc2 = Affine(d, d)

    def forward(self, x):
        return x + self.fc2(self.fc1(x).tanh())


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([Block(4), Block(4)])
        self.head = Affine(4, 1)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def net_and_loss():
    mg.manual_seed(0)
    model = Net()
    loss = model(mg.randn(2, 4)).pow(2).mean()
    loss.name = "loss"
    return model, loss


def test_modules_become_nested_clusters_holding_their_ops_and_parameters():
    model, loss = net_and_loss()
    nodes, edges, clusters = parse(viz.draw(loss, params=model).source)
    assert sorted(clusters) == sorted(["layers", "layers.0", "layers.1", "head"] +
                                      [f"layers.{i}.fc{j}" for i in (0, 1) for j in (1, 2)])
    source = viz.draw(loss, params=model).source
    assert 'label="layers.0 (Block)"' in source and 'label="layers (ModuleList)"' in source
    assert 'label="layers.1.fc2 (Affine)"' in source and 'label="head (Affine)"' in source
    # nesting: layers.0 is opened inside layers, fc1 inside layers.0
    assert re.search(r'subgraph cluster_layers \{.*subgraph "cluster_layers\.0" \{.*'
                     r'subgraph "cluster_layers\.0\.fc1" \{', source, re.S)

    where = {}
    for label, _, cluster in nodes.values():
        where.setdefault(first_line(label), set()).add(cluster)
    assert where["layers.0.fc1.weight"] == {"layers.0.fc1"} and where["head.bias"] == {"head"}
    assert where["tanh"] == {"layers.0", "layers.1"}          # called in Block.forward
    assert where["matmul"] == {"layers.0.fc1", "layers.0.fc2", "layers.1.fc1", "layers.1.fc2", "head"}
    assert where["pow"] == {None} and where["loss"] == {None}  # outside the model
    # 6 parameters x 2 blocks + 2 head ones, and every parameter box is named
    params = [label for label, _, _ in nodes.values() if first_line(label).endswith(("weight", "bias"))]
    assert len(params) == 10
    # ops: 5 Affine x (permute, matmul, add) + 2 Block x (tanh, add) + loss (pow, sum, div) = 22
    assert len(nodes) == 22 + 10 + 1
    # arrows: 5 per Affine, 3 per Block and 3 for the loss, one per recorded input, less the two
    # inputs that are the data (no grad), plus loss -> its box
    assert len(edges) == 5 * 5 + 2 * 3 + 3 - 2 + 1

def test_without_clusters_parameters_are_still_named():
    model, loss = net_and_loss()
    source = viz.draw(loss, params=model, cluster_modules=False).source
    assert "subgraph" not in source and "layers.1.fc2.bias" in source
    # a dict or (name, tensor) pairs name parameters too, without clusters
    source = viz.draw(loss, params=model.named_parameters()).source
    assert "subgraph" not in source and "head.weight" in source


@pytest.mark.skipif(not hasattr(nn, "Linear"), reason="nn.Linear is not written yet")
def test_clusters_for_nn_linear_layers():
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    out = model(mg.randn(5, 3)).sum()
    nodes, _, clusters = parse(viz.draw(out, params=model).source)
    assert sorted(clusters) == ["0", "1"]
    where = {first_line(label): cluster for label, _, cluster in nodes.values()}
    assert where["0.weight"] == "0" and where["1.bias"] == "1"
    assert 'label="1 (Linear)"' in viz.draw(out, params=model).source


# ---- gradients ----------------------------------------------------------------------------

def test_show_grads_colours_leaves_by_gradient_norm_on_a_log_scale():
    big = mg.ones(4, requires_grad=True)
    mid = mg.ones(4, requires_grad=True)
    small = mg.ones(4, requires_grad=True)
    loss = (big * 1000.0).sum() + (mid * 1.0).sum() + (small * 0.001).sum()
    loss.backward()
    nodes, _, _ = parse(viz.draw(loss, params={"big": big, "mid": mid, "small": small}, show_grads=True).source)
    t = by_title(nodes)
    assert "grad norm 2.00e+03" in nodes[t["big"]][0] and "grad norm 2.00e-03" in nodes[t["small"]][0]
    assert fill(nodes, t["big"]) == "#d62728"    # the largest norm: the red end
    assert fill(nodes, t["small"]) == "#fff5f0"  # the smallest: the light end
    red_mid = int(fill(nodes, t["mid"])[3:5], 16)  # green channel: lower is redder
    assert 39 < red_mid < 245 and abs(red_mid - (245 + 39) / 2) < 2  # 2 is halfway on the log scale
    legend = nodes["legend"][0]
    assert "gradient norm (log scale)" in legend and "2.00e-03" in legend and "2.00e+03" in legend
    # a fixed scale, to compare drawings: values beyond it are clamped to its ends
    nodes, _, _ = parse(viz.draw(loss, params={"big": big, "mid": mid, "small": small}, show_grads=True,
                                 grad_range=(1e-1, 10.0)).source)
    assert fill(nodes, by_title(nodes)["small"]) == "#fff5f0" and "1.00e-01" in nodes["legend"][0]


def test_show_grads_before_backward_says_so_and_zero_and_nan_gradients_stand_out():
    x = mg.ones(3, requires_grad=True)
    loss = (x * 2).sum()
    nodes, _, _ = parse(viz.draw(loss, show_grads=True).source)
    assert "no grad" in nodes[by_title(nodes)["tensor"]][0]
    assert "call backward()" in nodes["legend"][0]

    dead = mg.ones(3, requires_grad=True)
    broken = mg.ones(3, requires_grad=True)
    fine = mg.ones(3, requires_grad=True)
    loss = (dead * 0.0).sum() + (broken * float("nan")).sum() + fine.sum()
    loss.backward()
    nodes, _, _ = parse(viz.draw(loss, params={"dead": dead, "broken": broken, "fine": fine},
                                 show_grads=True).source)
    t = by_title(nodes)
    assert "grad norm 0" in nodes[t["dead"]][0] and "dashed" in nodes[t["dead"]][1]
    assert fill(nodes, t["broken"]) == viz._NONFINITE_FILL and "nan" in nodes[t["broken"]][0]
    assert ">0<" in nodes["legend"][0] and "nan/inf" in nodes["legend"][0]


def test_capture_gradients_records_every_op_and_leaves_backward_unchanged():
    mg.manual_seed(0)
    x = mg.randn(4, 3, requires_grad=True)
    w = mg.randn(4, 3, requires_grad=True)
    x.name, w.name = "x", "w"
    prod = x * w
    loss = prod.sum()
    with viz.capture_gradients(loss) as grads:
        loss.backward()
    np.testing.assert_allclose(x.grad.array, w.array)  # the hooks did not change the gradient
    assert grads.norm(loss) == 1.0
    assert grads.norm(prod) == pytest.approx(np.sqrt(12))  # d loss / d prod = ones (4, 3)
    assert grads.norm(x) is None and len(grads) == 2
    assert not loss.grad_fn.hooks and not prod.grad_fn.hooks  # removed on exit
    nodes, _, _ = parse(viz.draw(loss, grads=grads).source)
    t = by_title(nodes)
    assert "grad norm 3.46e+00" in nodes[t["mul"]][0] and "grad norm 1.00e+00" in nodes[t["sum"]][0]
    assert fill(nodes, t["mul"]) != viz._OP_FILL and "grad norm 1.00e+00" in nodes[t["output"]][0]


# ---- large graphs --------------------------------------------------------------------------

def chain(n):
    x = mg.ones(3, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0001
    return x, y


def test_max_nodes_and_depth_collapse_the_rest_into_one_box():
    _, y = chain(50)
    nodes, edges, _ = parse(viz.draw(y, max_nodes=10).source)
    ops = [n for n in nodes if n.startswith("op")]
    assert len(ops) == 10 and len(nodes) == 10 + 1 + 1  # ops, the output, the hidden box
    assert nodes["hidden"][0] == "... 40 more ops hidden\\n(and 1 leaf tensor)\\nmax_nodes=10"
    assert [(a, label) for a, b, label in edges if b == "op9"] == [("hidden", "(3,)")]
    assert len(edges) == 10 + 1

    nodes, _, _ = parse(viz.draw(y, depth=3).source)
    assert sum(n.startswith("op") for n in nodes) == 3
    assert nodes["hidden"][0].startswith("... 47 more ops hidden")

    nodes, _, _ = parse(viz.draw(y, max_nodes=None).source)
    assert "hidden" not in nodes and sum(n.startswith("op") for n in nodes) == 50


def test_the_ops_nearest_the_outputs_are_kept_on_every_branch():
    x, long = chain(5)
    y = mg.ones(3, requires_grad=True)
    loss = long.sum() + y.exp().sum()       # depth 1: add; 2: both sums; 3: the last mul and exp
    nodes, _, _ = parse(viz.draw(loss, depth=2).source)
    assert sorted(first_line(nodes[n][0]) for n in nodes if n.startswith("op")) == ["add", "sum", "sum"]
    assert nodes["hidden"][0].startswith("... 6 more ops hidden\\n(and 2 leaf tensors)")
    nodes, _, _ = parse(viz.draw(loss, max_nodes=5).source)
    assert sorted(first_line(nodes[n][0]) for n in nodes if n.startswith("op")) == ["add", "exp", "mul", "sum", "sum"]


def test_a_chain_of_20000_ops_is_drawn_and_captured_without_recursion():
    x, y = chain(20_000)
    loss = y.sum()
    nodes, _, _ = parse(viz.draw(loss).source)
    assert sum(n.startswith("op") for n in nodes) == 300
    assert nodes["hidden"][0].startswith("... 19701 more ops hidden")
    with viz.capture_gradients(loss) as grads:
        loss.backward()
    assert len(grads) == 20_001 and x.grad is not None
    assert "grad norm" in parse(viz.draw(loss, grads=grads).source)[0]["op299"][0]


# ---- rendering -----------------------------------------------------------------------------

def svg_nodes(path):
    root = ET.parse(path).getroot()  # raises if the SVG is not well-formed XML
    groups = root.iter("{http://www.w3.org/2000/svg}g")
    kinds = [g.get("class") for g in groups]
    return kinds.count("node"), kinds.count("cluster")


@needs_dot
def test_render_svg_and_png(tmp_path):
    x, w, b, loss = small_graph()
    graph = viz.draw(loss, params={"w": w, "b": b})
    path = viz.save(graph, tmp_path / "small.svg")
    assert path == str(tmp_path / "small.svg")
    assert svg_nodes(path) == (7, 0)
    png = viz.save(graph, tmp_path / "small.png")
    with open(png, "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(tmp_path)) == ["small.png", "small.svg"]  # no temporary files left

    model, loss = net_and_loss()
    loss.backward()
    path = viz.save(loss, tmp_path / "net.svg", params=model, show_grads=True)
    n_nodes = len(parse(viz.draw(loss, params=model, show_grads=True).source)[0])
    assert svg_nodes(path) == (n_nodes, 8)  # the legend is a node too; 8 module clusters
    assert "image/svg+xml" in graph._repr_mimebundle_()  # what Jupyter shows


def test_save_writes_dot_text_without_dot_and_replaces_files_atomically(tmp_path):
    x, w, b, loss = small_graph()
    path = viz.save([loss], tmp_path / "small.dot", params={"w": w})
    with open(path) as file:
        assert file.read() == viz.draw(loss, params={"w": w}).source
    target = tmp_path / "keep.svg"
    target.write_text("old")
    with pytest.raises(ValueError):
        viz.save(loss, target, format="no-such-format")
    assert target.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["keep.svg", "small.dot"]
    with pytest.raises(ValueError, match="cannot tell the format"):
        viz.save(loss, tmp_path / "noext")
    with pytest.raises(TypeError, match="options"):
        viz.save(viz.draw(loss), tmp_path / "a.dot", show_grads=True)


def test_missing_dot_gives_install_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` here
    graph = viz.draw(small_graph()[3])
    for render in (lambda: viz.save(graph, tmp_path / "g.png"),
                   lambda: graph.pipe(format="svg"),
                   lambda: graph.render(tmp_path / "g", format="svg")):
        with pytest.raises(RuntimeError, match="apt-get install graphviz") as info:
            render()
        assert "brew install graphviz" in str(info.value)
        assert not isinstance(info.value, graphviz.ExecutableNotFound)
    assert not (tmp_path / "g.png").exists()


def test_importing_minigrad_does_not_import_graphviz():
    code = "import sys, minigrad, minigrad.viz; print('graphviz' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


class SharedPool(nn.Module):
    """One pooling module called twice, the usual style."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        return self.pool(self.conv2(self.pool(self.conv1(x)))).sum()


def test_a_module_called_twice_gets_one_box_per_call():
    model = SharedPool()
    loss = model(mg.randn(1, 1, 8, 8))
    source = viz.draw(loss, params=model).source
    nodes, edges, clusters = parse(source)
    assert sorted(clusters) == ["conv1", "conv2", "pool_call1", "pool_call2"]
    assert 'label="pool (MaxPool2d) · call 1"' in source and 'label="pool (MaxPool2d) · call 2"' in source
    pools = {cluster for label, _, cluster in nodes.values() if first_line(label).startswith("maxpool2d")}
    assert pools == {"pool_call1", "pool_call2"}
    # the data flows conv1 -> pool call 1 -> conv2 -> pool call 2
    where = {box: cluster for box, (label, _, cluster) in nodes.items()}
    flow = [(where[tail], where[head]) for tail, head, _ in edges if where[tail] != where[head]]
    assert ("conv1", "pool_call1") in flow and ("pool_call1", "conv2") in flow and ("conv2", "pool_call2") in flow
    assert ("pool_call2", "conv1") not in flow


def test_each_call_nests_in_the_call_it_was_made_in():
    mg.manual_seed(0)
    inner = nn.Linear(3, 3)
    model = nn.Sequential(inner, nn.Tanh(), inner)  # the same layer twice inside a container
    loss = model(mg.randn(2, 3)).sum()
    source = viz.draw(loss, params=model).source
    _, _, clusters = parse(source)
    assert sorted(clusters) == ["0_call1", "0_call2", "1"]
    assert 'label="0 (Linear) · call 2"' in source


def module_boxes(nodes):
    return {first_line(label): label for label, attrs, _ in nodes.values() if "box3d" in attrs}


def test_collapse_draws_modules_nested_deeper_as_one_box_each():
    model = SharedPool()
    loss = model(mg.randn(1, 1, 8, 8))
    nodes, edges, clusters = parse(viz.draw(loss, params=model, collapse=1).source)
    boxes = module_boxes(nodes)
    labels = sorted(first_line(label) for label, attrs, _ in nodes.values() if "box3d" in attrs)
    assert labels == ["conv1 (Conv2d)", "conv2 (Conv2d)", "pool (MaxPool2d)", "pool (MaxPool2d)"]
    assert clusters == []  # every module is one box: no boxes around boxes
    assert "in (1, 1, 8, 8)" not in boxes["conv1 (Conv2d)"]  # the data needs no grad: not an arrow
    assert "out (1, 2, 8, 8)" in boxes["conv1 (Conv2d)"] and "20 parameters" in boxes["conv1 (Conv2d)"]
    assert "in (1, 2, 4, 4)  ->  out (1, 2, 4, 4)" in boxes["conv2 (Conv2d)"]
    assert "38 parameters" in boxes["conv2 (Conv2d)"]
    # no parameter boxes: they are counted in their module's box; the loss's op stays an op
    assert not any(first_line(label).endswith(("weight", "bias")) for label, _, _ in nodes.values())
    assert [first_line(label) for label, attrs, _ in nodes.values() if "rounded" in attrs] == ["sum"]
    assert len(edges) == 4 + 1  # conv1 -> pool -> conv2 -> pool -> sum -> output


def test_collapse_zero_draws_the_whole_model_as_one_box():
    mg.manual_seed(0)
    model, loss = net_and_loss()
    nodes, edges, _ = parse(viz.draw(loss, params=model, collapse=0).source)
    (label,) = module_boxes(nodes).values()
    assert first_line(label) == "Net" and f"{sum(p.numel() for p in model.parameters())} parameters" in label
    assert "out (2, 1)" in label
    assert {first_line(label) for label, attrs, _ in nodes.values() if "rounded" in attrs} == {"pow", "sum", "div"}
    with pytest.raises(ValueError, match="collapse"):
        viz.draw(loss, collapse=1)


def test_a_large_graph_picks_a_tighter_layout_and_graph_attr_still_wins():
    x = mg.randn(3, requires_grad=True)
    y = x
    for _ in range(100):
        y = y * 1.01
    assert "concentrate=true" in viz.draw(y.sum()).source
    assert "concentrate" not in viz.draw((x * 2).sum()).source
    assert "concentrate=false" in viz.draw(y.sum(), graph_attr={"concentrate": "false"}).source


# ---- drawing a call: inputs, and what needs no gradient ----------------------------------------

def muted(nodes, node_id):
    return 'fontcolor="#8c8c8c"' in nodes[node_id][1]


def titles(nodes):
    return [first_line(label) for label, _, _ in nodes.values()]


class MaskedBlock(nn.Module):
    """A pre-norm block whose input needs no gradient: drawn from the loss, it starts in mid-air."""

    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(4)
        self.linear = nn.Linear(4, 4)

    def forward(self, x, scale):
        mask = (mg.arange(x.shape[1]).float() * 0.25).exp()  # made from no tensor that needs a gradient
        return x + self.linear(self.norm(x)) * mask * scale


def test_drawing_a_call_draws_its_inputs_named_by_the_forward_argument_or_their_name():
    mg.manual_seed(0)
    model = MaskedBlock()
    x, scale = mg.randn(2, 4), mg.tensor(0.5)
    eager = titles(parse(viz.draw(model(x, scale).sum(), params=model).source)[0])
    # the eager graph starts in mid-air: no input, and the layer norm's normalisation (of x, which needs
    # no gradient) is missing - only the multiplication by its weight is there
    assert "x" not in eager and not any(title.startswith("layernorm") for title in eager) and "norm.weight" in eager
    nodes, edges, _ = parse(viz.draw(model, x, scale).source)
    t = by_title(nodes)
    assert t["x"] is not None and t["scale"] is not None
    assert nodes[t["x"]][0] == "x\\n(2, 4) float32" and "shape=cds" in nodes[t["x"]][1]
    arrows = {(first_line(nodes[a][0]), first_line(nodes[b][0])) for a, b, _ in edges}
    assert ("x", "layernorm dim=(1,) eps=1e-05") in arrows and ("x", "add") in arrows
    # draw_call is the same drawing; a tensor's .name wins over the argument's name
    x.name = "tokens"
    assert "tokens" in titles(parse(viz.draw_call(model, x, scale).source)[0])
    # a function of tensors: its own argument names; numbers an op takes are in its box
    nodes, _, _ = parse(viz.draw_call(lambda a, b: (a * 3 + b).sum(), mg.randn(2), mg.randn(2)).source)
    assert {"a", "b", "mul 3", "add", "sum", "output"} == set(titles(nodes))


def test_ops_and_tensors_that_need_no_gradient_are_muted_and_show_constants_false_hides_them():
    mg.manual_seed(0)
    model = MaskedBlock()
    x, scale = mg.randn(2, 4), mg.tensor(0.5)
    nodes, edges, _ = parse(viz.draw(model, x, scale).source)
    t = by_title(nodes)
    # the mask: arange (a constant box), float, times 0.25, exp - all muted, as are the arrows they send
    for title in ("constant", "cast float32", "mul 0.25", "exp"):
        assert muted(nodes, t[title]), title
    # normalising x needs no gradient either (x needs none); scaling it by the norm's weight does
    assert muted(nodes, t["layernorm dim=(1,) eps=1e-05"])
    assert not muted(nodes, t["norm.weight"]) and not muted(nodes, t["addmm"])
    grey = [(first_line(nodes[a][0]), first_line(nodes[b][0])) for a, b, _ in edges
            if 'color="#b3b3b3"' in _edge_line(viz.draw(model, x, scale).source, a, b)]
    assert ("constant", "cast float32") in grey and ("exp", "mul") in grey and ("x", "add") in grey
    assert ("norm.weight", "mul") not in grey
    # hidden: the mask's ops and the constant; the inputs and every op that needs a gradient stay
    nodes, edges, _ = parse(viz.draw(model, x, scale, show_constants=False).source)
    shown = set(titles(nodes))
    assert not {"constant", "cast float32", "mul 0.25", "exp"} & shown
    assert {"x", "scale", "norm.weight", "linear.weight", "addmm", "output"} <= shown
    assert "layernorm dim=(1,) eps=1e-05" not in shown
    assert not any(muted(nodes, box) for box in nodes if not first_line(nodes[box][0]) in ("x", "scale"))


def _edge_line(source, tail, head):
    return next(line for line in source.splitlines() if line.strip().startswith(f"{tail} -> {head}"))


def test_an_input_reaching_the_graph_only_through_hidden_ops_gets_a_dashed_arrow():
    w = mg.randn(3, requires_grad=True)
    draw = lambda data: (w * data.exp()).sum()  # noqa: E731  (exp of data needs no gradient)
    nodes, edges, _ = parse(viz.draw_call(draw, mg.randn(3)).source)
    t = by_title(nodes)
    assert muted(nodes, t["exp"]) and (t["data"], t["exp"], None) in edges
    source = viz.draw_call(draw, mg.randn(3), show_constants=False).source
    nodes, edges, _ = parse(source)
    t = by_title(nodes)
    assert "exp" not in t and (t["data"], t["mul"], None) in edges
    assert "style=dashed" in _edge_line(source, t["data"], t["mul"])


def test_a_transformer_block_drawn_from_its_call_starts_at_its_input_and_first_layer_norm():
    mg.manual_seed(0)
    block = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True, norm_first=True)
    src = mg.randn(2, 5, 8)
    nodes, edges, clusters = parse(viz.draw(block, src).source)
    t = by_title(nodes)
    assert "src" in t and "norm1" in clusters and "self_attn" in clusters
    first_norm = next(box for box, (label, _, cluster) in nodes.items()
                      if cluster == "norm1" and label.startswith("layernorm"))
    assert (t["src"], first_norm, None) in edges
    # the dropout masks: one muted box per mask, its numpy steps one line each
    masks = [label for label, attrs, _ in nodes.values() if label.startswith("draw ")]
    assert len(masks) == 4 and all("\\n→ " in label for label in masks)
    # collapse=1 still works from a call: one box per top-level child, the input arrow labelled
    nodes, edges, _ = parse(viz.draw(block, src, collapse=1).source)
    boxes = module_boxes(nodes)
    assert "norm1 (LayerNorm)" in boxes and "in (2, 5, 8)  ->  out (2, 5, 8)" in boxes["norm1 (LayerNorm)"]
    assert by_title(nodes)["src"] is not None


def test_drawing_a_call_leaves_the_model_and_the_random_stream_as_they_were():
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    model.train()
    x = mg.randn(8, 3)
    before = {name: b.numpy().copy() for name, b in model.named_buffers()}
    state = mg.get_rng_state()
    nodes, _, _ = parse(viz.draw(model, x).source)
    after = {name: b.numpy() for name, b in model.named_buffers()}
    assert all(np.array_equal(before[name], after[name]) for name in before)
    assert np.array_equal(mg.get_rng_state().numpy(), state.numpy())
    t = by_title(nodes)
    # the running statistics are buffers: drawn muted, named, where batch norm reads them (eval) or not at all
    assert "input" in t and all(not muted(nodes, t[name]) for name in ("0.weight", "1.weight"))
    with pytest.raises(TypeError, match="grads"):
        viz.draw(model, x, grads=object())
    with pytest.raises(TypeError, match="draw_call"):
        viz.draw_call(3, x)


def test_a_call_returning_several_tensors_draws_each_output():
    mg.manual_seed(0)
    layer = nn.Linear(3, 2)
    nodes, _, _ = parse(viz.draw_call(lambda x: {"y": layer(x), "z": layer(x).exp()}, mg.randn(4, 3),
                                      params=layer).source)
    assert {"y", "z", "x", "weight", "bias"} <= set(titles(nodes))


def test_a_call_returning_an_argument_as_it_came_draws_it_as_an_output():
    mg.manual_seed(0)
    layer = nn.Linear(3, 2)
    nodes, _, _ = parse(viz.draw_call(lambda x: (layer(x), x, layer(x).detach()), mg.randn(4, 3), params=layer).source)
    assert {"output 0", "output 2", "x"} <= set(titles(nodes))  # output 1 is x itself, drawn as the input
