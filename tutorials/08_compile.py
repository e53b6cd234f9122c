# %% [markdown]
# # 8 Capture and replay: `mg.compile`
#
# Every chapter so far ran *eagerly*: each operation is a Python call that
# checks its inputs, runs numpy, wraps the result in a Tensor and, when a
# gradient is wanted, makes a graph node; `backward()` then walks those nodes
# one by one. For a large matrix product that Python is noise. For an LSTM
# step made of twenty small operations on (32, 64) arrays, the Python *is*
# most of the step.
#
# `net = mg.compile(model)` (as `torch.compile`) removes that Python without
# changing what is computed. It records a call once - which primitive ran, on
# which values, with which settings - and later calls *replay* the record: the
# same numpy calls in the same order, with none of the per-op bookkeeping.
# This chapter takes minigrad's own implementation (`minigrad/capture.py`)
# apart (with `import minigrad as torch`, as in every chapter, the code below
# spells it `torch.compile`):
#
# 1. where the time of an eager op goes;
# 2. what the tracer records (a `Trace` of `Step`s over numbered slots);
# 3. replay: bit-identical losses and gradients, and what it saves per step;
# 4. what every replay must compute again, what makes a call fall back to
#    eager, and the signature cache;
# 5. how `torch.compile`, JAX's `jit` and CUDA graphs do the same thing, and
#    the limits all of them share.
#
# The times printed here are measured on the machine running the chapter and
# depend on it and on whatever else it is running: read the ratios, not the
# microseconds. Pictures go to `tutorials/outputs/08_compile/`.

# %%
import cProfile
import pstats
import time
import warnings

import numpy as np

from common import SMOKE, output_dir, plt, report, savefig, trange

import minigrad as torch
from minigrad import nn, optim
import minigrad.nn.functional as F
from minigrad.capture import CompileWarning, Slot, Tracer
from minigrad.ops.elementwise import Mul

OUT = output_dir("08_compile")
torch.manual_seed(0)


def per_call(function, number, repeat=5):
    """Seconds per call of `function()`: the best of `repeat` timings of `number` calls.

    The minimum is the least disturbed by other programs on the machine."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            function()
        best = min(best, (time.perf_counter() - start) / number)
    return best


# %% [markdown]
# ## 1 Where the time of an eager op goes
#
# Take the smallest op there is, `a * b` on two 8-element float32 tensors,
# and peel off one layer at a time:
#
# - **numpy**: `a_array * b_array`, the arithmetic itself;
# - **the primitive's forward**: `Mul.forward(ctx, a_array, b_array)` with a
#   bare ctx. This is all a replay runs per op;
# - **`Mul.apply`, no gradient**: `Function.apply` loops over the arguments,
#   unwraps tensors, and wraps the result in a new `Tensor`;
# - **`a * b`, no gradient**: the public function also promotes dtypes;
# - **`a * b` recording a node**: `a` requires grad, so `apply` makes the graph
#   node - parents, sequence number, output shape and dtype, the saved inputs
#   paired with their version counters;
# - **its backward**: the engine pops the node's gradient from its store, runs
#   the VJP (itself written in minigrad ops: `grad * b` is another `apply`),
#   sums and casts the result to the parent's shape and adds it in.
#
# The backward is timed on a chain of 100 multiplications, minus the chain's
# forward, per op.

# %%
a_array = np.random.default_rng(0).random(8, dtype=np.float32)
b_array = np.random.default_rng(1).random(8, dtype=np.float32)
a, b = torch.from_numpy(a_array), torch.from_numpy(b_array)
a_leaf = torch.tensor(a_array, requires_grad=True)
bare_ctx = object.__new__(Mul)
bare_ctx.parents = [None, None]
number = 200 if SMOKE else 20000
chain_length = 100


def chain(x):
    for _ in range(chain_length):
        x = x * b
    return x.sum()


def chain_forward_backward():
    chain(a_leaf).backward()


tiers = {
    "numpy": per_call(lambda: a_array * b_array, number),
    "primitive forward (bare ctx)": per_call(lambda: Mul.forward(bare_ctx, a_array, b_array), number),
    "Mul.apply, no gradient": per_call(lambda: Mul.apply(a, b), number),
    "a * b, no gradient": per_call(lambda: a * b, number),
    "a * b, recording a node": per_call(lambda: a_leaf * b, number),
}
chain_forward = per_call(lambda: chain(a_leaf), number // chain_length)
chain_total = per_call(chain_forward_backward, number // chain_length)
tiers["its backward (engine + VJP)"] = (chain_total - chain_forward) / chain_length
for name, seconds in tiers.items():
    print(f"{name:32s} {seconds * 1e6:6.2f} us")
eager_op = tiers["a * b, recording a node"] + tiers["its backward (engine + VJP)"]
print(f"one eager op, forward + backward: {eager_op * 1e6:.1f} us, "
      f"of which numpy's arithmetic is {tiers['numpy'] / eager_op:.0%}")

# %% [markdown]
# Python's profiler on the chain's forward and backward shows who spends it:
# `Function.apply` and the Tensor constructor on the way forward, the engine's
# loop, its gradient store and the VJPs (which call `apply` again) on the way
# back. numpy's `multiply` is one line among many. (The profiler's own cost
# inflates every Python call it sees: read the ranking, not the percentages.)

# %%
for _ in range(5):  # warm up first: one-time costs are not what we are after
    chain_forward_backward()
profile = cProfile.Profile()
profile.enable()
for _ in range(5 if SMOKE else 50):
    chain_forward_backward()
profile.disable()
rows = sorted(pstats.Stats(profile).stats.items(), key=lambda item: -item[1][2])  # by own time
total = sum(stat[2] for _, stat in rows)
print(f"{'own time':>9s}  {'calls':>7s}  function")
for (path, line, name), (_, calls, own, _, _) in rows[:10]:
    where = path.replace("\\", "/").split("/")[-1]
    print(f"{own / total:9.1%}  {calls:7d}  {name} ({where}:{line})")

figure, axes = plt.subplots(figsize=(7, 3.2))
names = list(tiers)
axes.barh(names[::-1], [tiers[n] * 1e6 for n in names[::-1]], color=["C3"] + ["C0"] * 4 + ["C2"])
axes.set(xlabel="microseconds per op (best of 5)", title="a * b on 8 floats: one layer at a time")
savefig(figure, OUT / "per_op_cost.png")

# %% [markdown]
# Everything above the numpy line is the same on every call: which op, which
# settings, which shapes, which inputs need gradients, how broadcasting is
# undone in backward. That is what capture decides once, and replay skips.
#
# ## 2 Capture: what the tracer records
#
# `mg.compile` captures the first call with a given *signature* by running it
# eagerly with a `Tracer` switched on. While it records, `Function.apply`
# hands every primitive call to `Tracer.record`, which runs the op as usual
# and appends a `Step`: the Function class, the numbered *slots* of its inputs,
# its settings, the slot of its output and, for ops that feed a gradient, where
# each input's gradient goes (`("step", i)`: into step i's output;
# `("input", slot)`: into an argument or parameter).
#
# Work the library does with numpy outside primitives is recorded too: the
# arrays seen during a capture are an `ndarray` subclass whose numpy calls are
# logged (`numpy` steps), and the random generator is swapped for one whose
# draws are logged (`draw` steps). A library check on a recorded value (an index
# range test) becomes a `guard` step.
#
# Here is the record of a small model with every kind of layer that matters
# below: a linear layer, ReLU, dropout and max-pooling over pairs of features.

# %%
class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(4, 3)

    def forward(self, x):
        h = self.drop(F.relu(self.fc1(x)))
        h = F.max_pool1d(h.unsqueeze(1), 2).squeeze(1)  # the larger of each pair of features
        return self.fc2(h)


def step_name(step):
    """A step's operation, as a short name."""
    if step.kind == "primitive":
        return step.target.__name__
    if step.kind == "draw":
        return f"generator.{step.target.__name__}"
    if step.kind == "guard":
        return f"guard (was {step.expected})"
    owner = getattr(step.target, "__self__", None)  # a ufunc arrives as its bound __call__
    if isinstance(owner, np.ufunc):
        return f"np.{owner.__name__}"
    return f"np.{getattr(step.target, '__name__', type(step.target).__name__)}"


def text(value, constants):
    """A step's argument: %slot, a constant's value, or a short description of an array."""
    if isinstance(value, Slot):
        constant = constants.get(value.index)
        return f"%{value.index}" if constant is None or isinstance(constant, np.ndarray) \
            else f"%{value.index}={constant!r}"
    if isinstance(value, np.ndarray):
        return f"array{value.shape}" if value.ndim else repr(value.item())
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(text(v, constants) for v in value) + ")"
    if isinstance(value, type):
        return value.__name__
    return repr(value)


def show(trace, names):
    """Print a trace: its inputs and external tensors, then one line per step."""
    for slot, path in trace.inputs:
        print(f"  %{slot:<3d} input {path}")
    for slot, tensor in trace.externals:
        print(f"  %{slot:<3d} {names.get(id(tensor), 'tensor')} {tuple(tensor.shape)} (read by reference)")
    for index, step in enumerate(trace.steps):
        # a primitive's inputs are slot numbers; elsewhere slots are `Slot`s inside the arguments
        args = ", ".join(text(Slot(a) if step.kind == "primitive" else a, trace.constants) for a in step.args)
        settings = "".join(f", {k}={text(v, trace.constants)}" for k, v in step.kwargs.items())
        made = f"%{step.output} = " if step.output is not None else ""
        grads = ""
        if step.parents is not None:
            grads = "   grads -> " + ", ".join("-" if p is None else f"step {p[1]}" if p[0] == "step" else f"%{p[1]}"
                                               for p in step.parents)
        shape = f" {step.shape}" if step.shape is not None else ""
        print(f"  {index:2d} {made}{step_name(step)}({args}{settings}){shape}{grads}")


torch.manual_seed(0)
small = Small()
x = torch.randn(5, 4)
tracer = Tracer()
out, trace = tracer.capture(small, (x,), {}, small)
print(f"the call returned {tuple(out.shape)}; the trace has {len(trace.steps)} steps over "
      f"{trace.slot_count} slots; the output is {trace.outputs}")
show(trace, {id(p): name for name, p in small.named_parameters()})
kinds = {kind: sum(s.kind == kind for s in trace.steps) for kind in ("primitive", "numpy", "draw", "guard")}
print("steps by kind:", kinds)
assert kinds["primitive"] >= 5 and kinds["draw"] == 1

# %% [markdown]
# Read it from the top. The input is slot 0 and the four parameters are slots
# 1-4, *read by reference*: a replay takes `parameter.array` at that moment, so
# an optimizer's in-place updates are seen. `nn.Linear` is two primitives: a
# `Permute` of the weight and an `Addmm`. Dropout is a `draw` from the random
# generator, a comparison and a scaling done in numpy (no gradient flows
# through a mask, so they are plain numpy steps), then a `Mul` primitive.
# Settings such as `axes=(1, 0)` or the pooling's kernel size are stored with
# the step; they never change between calls of the same signature.
#
# The same capture, drawn by `mg.viz.draw(model, x)` (which runs this tracer):
# muted boxes are the steps that need no gradient.

# %%
torch.viz.save(torch.viz.draw(small, x), OUT / "captured_call.svg")

# %% [markdown]
# ## 3 Replay
#
# A later call with the same signature does not run the model's Python at all.
# `_Plan.replay` puts the new input arrays and the parameters' current arrays
# in the slots, then walks the steps: for a primitive it calls
# `cls.forward(ctx, *arrays, **settings)` on a bare ctx (the second line of the
# table above), for a numpy step the recorded numpy function, for a draw the
# generator. No Tensor is made per op, no argument is checked, no node is
# linked to its parents.
#
# The outputs join the eager graph through **one** node, `_Region`. Its
# backward runs the replayed primitives' VJPs newest first with the engine's
# own gradient store; the first backward of a plan is itself recorded with the
# tracer, and later ones replay that record as plain numpy calls over what the
# forward's ctxs saved. To `loss.backward()`, the optimizer, gradient
# accumulation, parameter hooks or `state_dict`, a compiled model is the model.
#
# Because replay makes the same numpy calls on the same arrays in the same
# order as eager, the results are not merely close, they are equal. We train
# the same MLP (with dropout) and the same LSTM eagerly and compiled, from the
# same seeds, and compare every loss and every gradient with `==`.

# %%
class Reverser(nn.Module):
    """An LSTM over one-hot digits and a linear read-out per time step (chapter 5's task size)."""

    def __init__(self, hidden=64):
        super().__init__()
        self.lstm = nn.LSTM(10, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 10)

    def forward(self, x):
        outputs, _ = self.lstm(x)
        return self.head(outputs)


data_rng = np.random.default_rng(0)
mlp_x = torch.from_numpy(data_rng.standard_normal((32, 64)).astype(np.float32))
mlp_y = torch.from_numpy(data_rng.integers(0, 10, 32))
digits = data_rng.integers(0, 10, (32, 10))
lstm_x = torch.from_numpy(np.eye(10, dtype=np.float32)[digits])
lstm_y = torch.from_numpy(digits[:, ::-1].copy())

MODELS = {
    "MLP 64-128-10, dropout": (lambda: nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2),
                                                      nn.Linear(128, 10)),
                               lambda out, y: F.cross_entropy(out, y), (mlp_x, mlp_y)),
    "LSTM 10-64, 10 steps": (Reverser, lambda out, y: F.cross_entropy(out.reshape(-1, 10), y.reshape(-1)),
                             (lstm_x, lstm_y)),
}


def trainer(name, compiled):
    """(one training step, the model, the callable used): Adam, the loss outside the compiled call."""
    make, loss_fn, (inputs, targets) = MODELS[name]
    torch.manual_seed(0)
    model = make()
    net = torch.compile(model) if compiled else model
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    def step():
        loss = loss_fn(net(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss
    return step, model, net


check_steps = 3 if SMOKE else 10
for name in MODELS:
    runs = {}
    for compiled in (False, True):
        step, model, net = trainer(name, compiled)
        torch.manual_seed(1)  # the dropout masks come from here, drawn in the same order in both runs
        losses, grads = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompileWarning)  # no fallback: every call after the first replays
            for _ in trange(check_steps, desc=f"{name}, {'compiled' if compiled else 'eager'}"):
                losses.append(step().item())
                grads.append([p.grad.numpy().copy() for p in model.parameters()])
        runs[compiled] = losses, grads, net
    (eager_losses, eager_grads, _), (compiled_losses, compiled_grads, net) = runs[False], runs[True]
    assert compiled_losses == eager_losses, (name, compiled_losses, eager_losses)
    for eager_step, compiled_step in zip(eager_grads, compiled_grads):
        for g_eager, g_compiled in zip(eager_step, compiled_step):
            assert np.array_equal(g_eager, g_compiled), name
    print(f"{name}: {check_steps} Adam steps, losses {eager_losses[0]:.6f} ... {eager_losses[-1]:.6f}, "
          f"equal bit for bit, and so are all {sum(len(g) for g in eager_grads)} gradients "
          f"({net.captures} capture, {net.replays} replays)")

# %% [markdown]
# First the chain of 100 multiplications of section 1, forward and backward,
# as a compiled function: per op, what is left is close to the bare forward
# plus the numpy calls of its VJP.

# %%
compiled_chain = torch.compile(chain)


def compiled_chain_forward_backward():
    compiled_chain(a_leaf).backward()


for _ in range(3):  # the capture, then the first backward (which is recorded too)
    compiled_chain_forward_backward()
replayed_op = per_call(compiled_chain_forward_backward, number // chain_length) / chain_length
print(f"a * b, forward + backward: eager {chain_total / chain_length * 1e6:.2f} us per op, "
      f"replayed {replayed_op * 1e6:.2f} us per op ({chain_total / chain_length / replayed_op:.1f}x)")

# %% [markdown]
# Now the time of one training step (forward, loss, backward, Adam), eager and
# compiled, best of five timings. The compiled step still runs the loss, the
# optimizer and the numpy work eagerly; only the model's per-op Python goes.

# %%
timed_steps = 3 if SMOKE else 50
step_times = {}
for name in MODELS:
    for compiled in (False, True):
        step, _, _ = trainer(name, compiled)
        for _ in range(3):  # warm up: the capture, then the first (recorded) backward
            step()
        step_times[name, compiled] = per_call(step, timed_steps)
    eager_ms, compiled_ms = step_times[name, False] * 1e3, step_times[name, True] * 1e3
    print(f"{name}: eager {eager_ms:.2f} ms, compiled {compiled_ms:.2f} ms per step "
          f"({eager_ms / compiled_ms:.2f}x)")
print("(machine- and load-dependent: rerun to see the spread)")

figure, axes = plt.subplots(figsize=(6, 3))
positions = np.arange(len(MODELS))
axes.bar(positions - 0.2, [step_times[n, False] * 1e3 for n in MODELS], 0.4, label="eager")
axes.bar(positions + 0.2, [step_times[n, True] * 1e3 for n in MODELS], 0.4, label="mg.compile")
axes.set_xticks(positions, list(MODELS))
axes.set(ylabel="ms per training step", title="one Adam step, best of 5 (this machine, this load)")
axes.legend()
savefig(figure, OUT / "step_times.png")

# %% [markdown]
# Replay cannot go below numpy's own time. On the LSTM step most of what is
# left is matrix products in BLAS and the elementwise gate arithmetic; capture
# removes the Python *around* them, not them. A compiler that generates code
# (section 5) can also fuse the elementwise ops into one loop, which replay
# does not try to do.
#
# ## 4 What every replay computes again
#
# Only what is the same on every call may be decided at capture. Values that
# depend on the data never are:
#
# - **ReLU masks**: `Relu.forward` runs again on the new input and saves its
#   new output in the replay's ctx; backward passes the gradient where *that*
#   output is positive.
# - **Max-pool winners**: `MaxPool2d.forward` finds again which element of
#   each window is largest and saves the winners' positions; its backward
#   routes the gradient to *those*.
# - **Dropout masks**: the `draw` step calls the generator again, so each
#   replay gets a fresh mask, and the generator advances exactly as eager
#   would (that is why the losses above were equal with dropout on).
#
# Baking any of them in would give a replay that returns the first batch's
# mask for every batch: fast and wrong. We check all three on `Small`: a
# compiled call on new inputs equals the eager model run from the same
# random state, outputs and gradients.

# %%
compiled_small = torch.compile(small)
compiled_small(x)  # the capture
assert compiled_small.captures == 1
for trial in range(3):
    x_new = torch.randn(5, 4)
    state = torch.get_rng_state()
    out_replayed = compiled_small(x_new)
    out_replayed.sum().backward()
    replayed_grads = [p.grad.numpy().copy() for p in small.parameters()]
    small.zero_grad()
    torch.set_rng_state(state)
    out_eager = small(x_new)
    out_eager.sum().backward()
    eager_grads = [p.grad.numpy().copy() for p in small.parameters()]
    small.zero_grad()
    assert np.array_equal(out_replayed.detach().numpy(), out_eager.detach().numpy())
    assert all(np.array_equal(g, e) for g, e in zip(replayed_grads, eager_grads))
print(f"Small on 3 new inputs: replayed outputs and gradients equal eager's "
      f"(relu masks, dropout masks and max-pool winners recomputed); "
      f"{compiled_small.captures} capture, {compiled_small.replays} replays")
small.eval()  # a different signature: a new capture, without dropout
with torch.no_grad():
    first, second = compiled_small(x), compiled_small(x)
assert np.array_equal(first.numpy(), second.numpy()) and compiled_small.captures == 2
small.train()
print("small.eval(): a new signature, captured once; in eval mode two calls agree (no dropout)")

# %% [markdown]
# ## Falling back: Python that reads a value
#
# The tracer records what happens to arrays. It cannot record a decision
# Python makes *from* a value: `if loss > 1`, `.item()`, `.tolist()`,
# `float(t)`. A replay would skip the Python and silently take the branch of
# the capture. So the tracer refuses: that signature runs eagerly from then on,
# with one `CompileWarning` that says why.

# %%
def clipped(x):
    """Halve x when its mean is positive: Python control flow on a value."""
    if x.mean() > 0:
        return x * 0.5
    return x


def normalised(x):
    return x / x.abs().max().item()  # .item(): Python reads a number


for function in (clipped, normalised):
    compiled_function = torch.compile(function)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for sign in (1, -1, 1):  # the branch taken changes: eager gets each one right
            x_in = sign * torch.ones(4)
            assert np.array_equal(compiled_function(x_in).numpy(), function(x_in).numpy())
    messages = [str(w.message) for w in caught if issubclass(w.category, CompileWarning)]
    assert len(messages) == 1, messages
    print(f"{function.__name__}: {messages[0]}; replays: {compiled_function._compiled.replays}")

# %% [markdown]
# Other fallbacks work the same way: hooks or `retain_grad()` on a tensor
# made inside the call, numpy work on a recorded value that the tracer cannot
# follow. A library check on a recorded value (an index range test) does not
# refuse: it becomes a `guard` step that the replay evaluates again, capturing
# the call anew if it comes out differently. A guard after a random draw or
# an in-place write is refused, because by then the replay has already changed
# the generator's state. Second derivatives (`create_graph=True`) through a
# replay are refused with an error: the region keeps arrays, not a
# differentiable graph (call `net._orig_mod` for those).
#
# ## The signature cache
#
# Everything a trace takes for granted goes into its *signature*: how the
# arguments are nested (lists, tuples, dict keys, keyword names), the shape,
# dtype and `requires_grad` of each tensor argument, the other arguments'
# values (a float by its bits: 0.0 and -0.0 differ), grad mode, each
# submodule's `training` flag, and the identity and shape of every parameter
# and buffer. Tensors read from a closure are checked at each replay too: one
# whose `requires_grad`, shape or dtype changed (a layer unfrozen for
# fine-tuning) makes the call captured again. A call whose signature is in the cache
# replays; a new one is captured (8 signatures are kept, oldest dropped). A
# last partial batch is one more capture; a sequence length that changes on
# every call would capture every time, so after more misses in a row than the
# cache holds it is reported once and the wrapper runs eagerly.

# %%
torch.manual_seed(0)
layer = nn.Linear(6, 3)
compiled_layer = torch.compile(layer)
for batch in (16, 16, 16, 5, 16, 5):
    compiled_layer(torch.randn(batch, 6))
print(f"batches 16, 16, 16, 5, 16, 5: {compiled_layer.captures} captures, {compiled_layer.replays} replays")
assert (compiled_layer.captures, compiled_layer.replays) == (2, 4)
layer.weight = nn.Parameter(torch.zeros(3, 6))  # a new parameter object: the old trace would read the old one
compiled_layer(torch.randn(16, 6))
assert compiled_layer.captures == 3
print("a replaced parameter changes the signature: captured again")

growing = torch.compile(lambda x: (x * 2).sum(), cache_size=3)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for length in range(1, 8):
        growing(torch.ones(length))
churn = [str(w.message) for w in caught if issubclass(w.category, CompileWarning)]
assert len(churn) == 1
print(f"a length that grows on every call (cache of 3): {churn[0]}")

# %% [markdown]
# ## 5 The same idea elsewhere
#
# **torch.compile.** TorchDynamo hooks CPython's frame evaluation (PEP 523) and
# runs the function's bytecode symbolically, recording the torch operations
# into an FX graph; *guards* (input shapes, dtypes, module attributes, global
# values) decide when a recorded graph may be reused, and a failed guard means
# a recompile - minigrad's signature plays that role. Python that Dynamo cannot
# record (a data-dependent `if`, `.item()`) causes a *graph break*: the
# function is split, the part in between runs in ordinary Python, and the
# pieces before and after are still compiled; minigrad gives up on the whole
# call instead. AOTAutograd then traces the backward ahead of time, and
# Inductor *generates code*: fused Triton kernels on GPUs, C++/OpenMP loops on
# CPUs. Fusion is where most of its speed comes from, and why its results may
# differ from eager in the last bits; minigrad's replay calls the very same
# numpy functions, so it is bit-identical but fuses nothing.
#
# **JAX `jit`.** `jax.jit(f)` calls `f` once with *abstract* tracers that carry
# only shapes and dtypes; the operations they go through are recorded as a
# jaxpr, which XLA compiles (fusing and scheduling it) and caches per input
# shapes, dtypes and static arguments. Since tracers carry no values, `if x > 0`
# on one raises a `ConcretizationTypeError` (`TracerBoolConversionError`) at
# trace time; one uses `jnp.where` or `lax.cond` instead. minigrad's tracer runs
# the first call on *real* values (it is an eager call), so a value can be read
# - but then that call cannot be replayed. JAX also asks the function to be
# pure: a `print` or a write to a global happens once, while tracing, and
# random numbers come from explicit keys passed in, where minigrad records the
# draws of its global generator.
#
# **CUDA graphs.** A stream of GPU kernel launches is recorded once and
# relaunched as a whole with one call, removing the CPU's launch cost per
# kernel - the GPU's version of our Python per op. The replay repeats the
# *same* kernels on the *same* memory addresses: inputs must be copied into the
# captured buffers, shapes cannot change, and any CPU-side logic between the
# kernels is not run again (in PyTorch, `torch.cuda.graphs` and
# `torch.compile(mode="reduce-overhead")` manage the static buffers and the
# random-number offsets). This is the closest to minigrad's replay, which also
# repeats recorded calls exactly; minigrad refills slots with new arrays each
# call instead of copying into fixed addresses.
#
# | | records | reuse decided by | value-dependent Python | output |
# |---|---|---|---|---|
# | `mg.compile` | primitives and numpy calls, on a real first call | signature (shapes, dtypes, flags, parameters) | whole call falls back to eager, one warning | bit-identical to eager |
# | `torch.compile` | torch ops via bytecode analysis (FX graph) | guards | graph break, the rest still compiled | generated, fused kernels |
# | JAX `jit` | jaxpr from abstract tracers | shapes, dtypes, static args | error at trace time | XLA-compiled program |
# | CUDA graphs | kernel launches | the caller | not rerun at all | same kernels, same addresses |
#
# ## Limits
#
# All four share the limits of recording one run and repeating it:
#
# - **Data-dependent control flow**: a branch or a loop count that depends on
#   a value cannot be replayed as recorded (fallback, graph break, error, or a
#   silently wrong replay if nothing checks).
# - **Shapes that change every call**: each new shape is a new capture; if
#   every call is new, capturing only adds cost (minigrad stops trying and
#   says so; torch.compile switches to symbolic shapes; JAX recompiles).
# - **Side effects**: Python that prints, appends to a list or calls a hook
#   inside the call runs at capture only. minigrad records its own effects
#   (random draws, batch norm's running statistics) but not yours: forward
#   hooks of submodules, for example, run at capture only, and a tensor read
#   from a closure is read by reference (an in-place change is seen, a rebound
#   name is not).
#
# And replay's own limit: it removes the bookkeeping, never the arithmetic.
# The larger the arrays, the less there is to gain.

# %%
mlp_name, lstm_name = list(MODELS)
report("08 compile", {
    "a*b forward + backward, eager / replayed": f"{chain_total / chain_length * 1e6:.1f} / "
                                                f"{replayed_op * 1e6:.1f} us per op",
    "MLP step, eager / compiled": f"{step_times[mlp_name, False] * 1e3:.2f} / "
                                  f"{step_times[mlp_name, True] * 1e3:.2f} ms",
    "LSTM step, eager / compiled": f"{step_times[lstm_name, False] * 1e3:.2f} / "
                                   f"{step_times[lstm_name, True] * 1e3:.2f} ms",
    "losses and gradients": "bit-identical to eager",
}, OUT)
