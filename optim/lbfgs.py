"""L-BFGS: a quasi-Newton method that rebuilds an inverse-Hessian estimate from recent steps,
optionally with a strong-Wolfe line search (cubic interpolation and zoom)."""
from __future__ import annotations

import math

import numpy as np

from minigrad import grad_mode
from minigrad.tensor import Tensor, _make

from .optimizer import Optimizer


class LBFGS(Optimizer):
    """L-BFGS, PyTorch's algorithm (itself after minFunc) iteration for iteration.

    `step(closure)` runs up to `max_iter` iterations; the closure must clear
    the gradients, compute the loss, call backward and return the loss. Each
    iteration, with g the flat gradient of all parameters:

        d = -H g, H from the two-loop recursion over the last `history_size`
            pairs s = t d (step), y = g_new - g_old kept when y.s > 1e-10,
            scaled by H_diag = y.s / y.y (on the very first iteration d = -g)
        t = lr * min(1, 1 / sum|g|) on the very first iteration, else lr
        t <- a strong-Wolfe step (if line_search_fn='strong_wolfe')
        p <- p + t d

    It stops early when max|g| <= tolerance_grad, when the directional
    derivative g.d > -tolerance_change, when max|t d| or the change of the
    loss falls below tolerance_change, or after `max_eval` closure calls.
    The history carries over from one `step` to the next.

    Args:
        params: tensors to optimize (one group only: L-BFGS treats them as one flat vector).
        lr: learning rate (the trial step length).
        max_iter: maximal number of iterations per `step`.
        max_eval: maximal number of closure calls per `step` (default max_iter * 5 // 4).
        tolerance_grad: stop when the largest gradient entry is at most this.
        tolerance_change: stop when the loss or the parameters change less than this.
        history_size: number of (s, y) pairs kept.
        line_search_fn: None (fixed step t) or 'strong_wolfe'.
    """

    def __init__(self, params, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size,
                        line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        self._params = self.param_groups[0]["params"]

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        self._require(group, "max_iter", group["max_iter"] >= 1, "max_iter value", "max_iter >= 1")
        self._require(group, "history_size", group["history_size"] >= 1, "history_size value",
                      "history_size >= 1")
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: unknown line_search_fn {group['line_search_fn']!r} - expected None or "
                             "'strong_wolfe'")

    def add_param_group(self, param_group: dict) -> None:
        """Add the one parameter group (L-BFGS refuses a second: its parameters form one flat vector)."""
        if self.param_groups:
            raise ValueError("LBFGS: doesn't support per-parameter options (parameter groups) - it already "
                             "has its one group")
        super().add_param_group(param_group)

    # ---- the flat view of all parameters ---------------------------------------------
    def _dtype(self):
        return np.result_type(*(p.array.dtype for p in self._params))

    def _gather_flat_grad(self) -> np.ndarray:
        dtype = self._dtype()
        parts = []
        for p in self._params:
            g = self._grad_array(p)
            parts.append(np.zeros(p.array.size, dtype=dtype) if g is None else g.reshape(-1))
        return np.concatenate(parts).astype(dtype, copy=False)

    def _add_grad(self, step_size: float, direction: np.ndarray) -> None:
        """p <- p + step_size * direction (the slice of the flat direction that belongs to p)."""
        offset = 0
        for p in self._params:
            n = p.array.size
            update = direction[offset:offset + n] * step_size
            with p._writing() as weight:
                weight += update.reshape(weight.shape)
            offset += n

    def _clone_param(self) -> list:
        return [p.array.copy() for p in self._params]

    def _set_param(self, saved: list) -> None:
        for p, array in zip(self._params, saved):
            with p._writing() as weight:
                weight[...] = array

    def _directional_evaluate(self, closure, x: list, t: float, d: np.ndarray):
        """Loss and flat gradient at x + t d; the parameters are put back to x afterwards."""
        self._add_grad(t, d)
        loss = float(_call(closure))
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ---- the step ---------------------------------------------------------------------
    def step(self, closure=None):
        """Run up to `max_iter` L-BFGS iterations.

        Args:
            closure: a function that clears the gradients, computes the loss,
                calls backward and returns the loss. It is called at least once
                (with gradients enabled).

        Returns:
            The loss returned by the first call of the closure.
        """
        if closure is None:
            raise RuntimeError("LBFGS: step() needs a closure that recomputes the loss and its gradients "
                               "(L-BFGS evaluates the function several times per step)")
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        # all the state lives with the first parameter, as in PyTorch
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = _call(closure)
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1

        flat_grad = self._gather_flat_grad()
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        d = _array(state.get("d"))
        t = state.get("t")
        old_dirs = [_array(v) for v in state.get("old_dirs", [])]
        old_stps = [_array(v) for v in state.get("old_stps", [])]
        ro = list(state.get("ro", []))
        H_diag = state.get("H_diag")
        prev_flat_grad = _array(state.get("prev_flat_grad"))
        prev_loss = state.get("prev_loss")
        al = list(state.get("al", []))

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # the descent direction
            if state["n_iter"] == 1:
                d = np.negative(flat_grad)
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = float(np.dot(y, s))
                if ys > 1e-10:  # keep the pair only where the curvature is positive
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / float(np.dot(y, y))
                if len(al) != history_size:
                    al = [None] * history_size
                # two-loop recursion: d = -H g
                q = np.negative(flat_grad)
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = float(np.dot(old_stps[i], q)) * ro[i]
                    q -= al[i] * old_dirs[i]
                d = r = q * H_diag
                for i in range(len(old_dirs)):
                    be_i = float(np.dot(old_dirs[i], r)) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]

            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            # the step length
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(np.abs(flat_grad).sum())) * lr
            else:
                t = lr
            gtd = float(np.dot(flat_grad, d))
            if gtd > -tolerance_change:  # not a descent direction (any more)
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = self._clone_param()

                def obj_func(x, step_size, direction):
                    return self._directional_evaluate(closure, x, step_size, direction)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(obj_func, x_init, t, d, loss, flat_grad, gtd,
                                                                  tolerance_change=tolerance_change)
                self._add_grad(t, d)
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    # re-evaluate only if another iteration follows (the next step() does it otherwise)
                    loss = float(_call(closure))
                    flat_grad = self._gather_flat_grad()
                    opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = _make(d)
        state["t"] = t
        state["old_dirs"] = [_make(v) for v in old_dirs]
        state["old_stps"] = [_make(v) for v in old_stps]
        state["ro"] = ro
        state["H_diag"] = H_diag
        state["prev_flat_grad"] = _make(prev_flat_grad)
        state["prev_loss"] = prev_loss
        state["al"] = al
        return orig_loss

    def _update(self, group: dict) -> None:
        raise RuntimeError("LBFGS: step() needs a closure")

    # ---- state dicts: the history is flat vectors and lists of them ---------------------
    def state_dict(self) -> dict:
        """As Optimizer.state_dict, with the history lists copied too (later steps do not change them)."""
        saved = super().state_dict()
        for values in saved["state"].values():
            for key, value in values.items():
                if isinstance(value, list):
                    values[key] = [_make(v.array.copy()) if isinstance(v, Tensor) else v for v in value]
        return saved

    def _load_value(self, p: Tensor, index: int, key: str, value):
        if key in ("func_evals", "n_iter"):
            return int(_scalar(value))
        if key in ("t", "H_diag", "prev_loss"):
            return None if value is None else float(_scalar(value))
        if key in ("ro", "al"):
            return [None if v is None else float(_scalar(v)) for v in value]
        size = sum(q.array.size for q in self._params)
        if key in ("old_dirs", "old_stps"):
            return [self._load_flat(v, key, size) for v in value]
        if key in ("d", "prev_flat_grad"):
            return None if value is None else self._load_flat(value, key, size)
        return super()._load_value(p, index, key, value)

    def _load_flat(self, value, key: str, size: int) -> Tensor:
        array = value.array if isinstance(value, Tensor) else np.asarray(value)
        if array.size != size:
            raise ValueError(f"LBFGS: state '{key}' has {array.size} elements, but the parameters have "
                             f"{size} in all")
        return _make(array.reshape(-1).astype(self._dtype(), copy=True))


def _call(closure):
    with grad_mode.enable_grad():
        return closure()


def _array(value):
    return value.array if isinstance(value, Tensor) else value


def _scalar(value):
    return value.item() if isinstance(value, (Tensor, np.ndarray)) else value


def _cubic_interpolate(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float, bounds=None) -> float:
    """Minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clipped to `bounds`.

    Without bounds the interval between x1 and x2 is used; when the cubic
    has no minimiser the middle of the bounds is returned.
    """
    if bounds is not None:
        lo, hi = bounds
    else:
        lo, hi = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(d2_square)
    if x1 <= x2:
        x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(x, lo), hi)


def _strong_wolfe(obj_func, x, t: float, d: np.ndarray, f: float, g: np.ndarray, gtd: float, c1: float = 1e-4,
                  c2: float = 0.9, tolerance_change: float = 1e-9, max_ls: int = 25):
    """Find a step t along d meeting the strong Wolfe conditions (Nocedal & Wright, algorithms 3.5 and 3.6).

        f(x + t d) <= f + c1 t g.d                       (sufficient decrease)
        |g(x + t d).d| <= c2 |g.d|                       (curvature)

    A bracketing phase grows t (cubic extrapolation) until an interval
    holding such a step is found; a zoom phase then shrinks that interval by
    cubic interpolation, nudging trial points away from its ends when the
    interval shrinks too slowly.

    Args:
        obj_func: (x, t, d) -> (loss, flat gradient) at x + t d.
        x: the parameters at the start (as given to obj_func).
        t: the first trial step.
        d: the search direction (flat).
        f, g, gtd: loss, flat gradient and directional derivative g.d at t = 0.

    Returns:
        (loss, flat gradient, t, number of obj_func calls) at the step found.
    """
    d_norm = float(np.abs(d).max())
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = float(np.dot(g_new, d))

    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    bracket = bracket_f = bracket_g = bracket_gtd = None
    while ls_iter < max_ls:
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:  # the slope turned: a minimum lies between t_prev and t
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # still going down: extrapolate, at least 1% beyond t and at most 10 t
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        t_next = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = float(np.dot(g_new, d))
        ls_iter += 1

    if ls_iter == max_ls:  # no bracket found within the budget: zoom between 0 and the last t
        bracket, bracket_f = [0.0, t], [f, f_new]
        bracket_g, bracket_gtd = [g, g_new], [gtd, gtd_new]

    # zoom: shrink the bracket; `low` is its end with the smaller loss
    insuf_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # a trial point within 10% of an end makes slow progress: after two such in a row
        # (or one outside the bracket) move it to 10% inside
        b_min, b_max = min(bracket), max(bracket)
        eps = 0.1 * (b_max - b_min)
        if min(b_max - t, t - b_min) < eps:
            if insuf_progress or t >= b_max or t <= b_min:
                t = b_max - eps if abs(t - b_max) < abs(t - b_min) else b_min + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = float(np.dot(g_new, d))
        ls_iter += 1

        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:
            # not enough decrease: t becomes the high end
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                # the minimum lies between low and t: the old low end becomes the high end
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new, gtd_new

    return bracket_f[low], bracket_g[low], bracket[low], ls_func_evals
