"""Random programs: chains of 3 to 10 primitive ops over random shapes, checked against the maths.

`minigrad.testing.random_programs()` draws the programs (elementwise ops with
broadcasting, reductions, shape ops, basic and fancy indexing, matmul,
softmax/log_softmax/layer_norm, conv2d and pooling on image-shaped values).
For each one:

- first and second derivatives match central finite differences in float64
  (gradcheck, gradgradcheck), for every input;
- the forward values are bit-identical with and without `mg.no_grad()`;
- `backward()` into `.grad` and `mg.grad` give bit-identical gradients.

A failing example prints as code (`Program(x0 = ..., v1 = mg.exp(v0), ...)`).
Run many more locally with `HYPOTHESIS_PROFILE=deep`.
"""
import numpy as np
from hypothesis import given, settings

import minigrad as mg
from minigrad.testing import gradcheck, gradgradcheck, random_programs

# A few hundred programs in CI (under a minute); the "deep" profile asks for more.
MANY = settings(max_examples=max(250, settings.default.max_examples))


@MANY
@given(program=random_programs())
def test_first_and_second_derivatives_match_finite_differences(program):
    leaves = program.leaves()
    assert gradcheck(program, leaves)
    assert gradgradcheck(program, leaves)


@MANY
@given(program=random_programs())
def test_forward_is_the_same_with_and_without_recording(program):
    recorded = program(*program.leaves())
    with mg.no_grad():
        plain = program(*program.leaves())
    assert recorded.requires_grad and not plain.requires_grad
    assert recorded.shape == plain.shape and recorded.dtype == plain.dtype == np.float64
    assert np.array_equal(recorded.array, plain.array)


@MANY
@given(program=random_programs())
def test_backward_and_grad_give_the_same_gradients(program):
    seed = np.random.default_rng(len(program.steps)).standard_normal(program.shapes[-1])

    leaves = program.leaves()
    program(*leaves).backward(mg.tensor(seed))
    stored = [leaf.grad for leaf in leaves]

    leaves = program.leaves()
    returned = mg.grad(program(*leaves), leaves, grad_outputs=mg.tensor(seed), allow_unused=True)

    for index, (a, b) in enumerate(zip(stored, returned)):
        assert (a is None) == (b is None), f"input x{index}: backward gave {a}, grad gave {b}"
        if a is not None:
            assert a.shape == b.shape == leaves[index].shape
            assert np.array_equal(a.array, b.array), f"input x{index}: {a.array} != {b.array}"
            assert not np.shares_memory(a.array, leaves[index].array)


@settings(max_examples=50)
@given(program=random_programs())
def test_a_program_prints_as_code_that_runs(program):
    """The repr is what a failing example shows: inputs and ops, one per line, as runnable code."""
    text = repr(program)
    last = len(program.steps)
    assert text.startswith("Program(\n    x0 = mg.tensor(") and text.endswith(f"    return v{last}\n)")
    lines = [line.strip() for line in text.splitlines()[1:-2]]
    assert len(lines) == len(program.inputs) + 1 + last
    namespace = {"mg": mg}
    exec("\n".join(lines), namespace)
    assert np.array_equal(namespace[f"v{last}"].array, program(*program.leaves()).array)
