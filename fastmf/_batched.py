"""Batched NumPy solves behind ``reference.fold_in``: one small penalised least-squares
or logistic problem per user, the users' rows stacked and cut into segments (``seg``: the
first row of each user), every user solved at once by batched ``numpy.linalg`` calls.
"""

from __future__ import annotations

import numpy as np


def _solve_spd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched solve of a[j] w[j] = b[j]; singular systems get the minimum-norm solution."""
    try:
        return np.linalg.solve(a, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.stack([np.linalg.lstsq(aj, bj, rcond=None)[0] for aj, bj in zip(a, b,
                                                                                  strict=True)])


def squared_solve(x: np.ndarray, target: np.ndarray, seg: np.ndarray,
                   penalty: np.ndarray) -> np.ndarray:
    """(X_u^T X_u + diag(penalty)) w_u = X_u^T target_u for each user segment."""
    gram = np.add.reduceat(np.einsum("ni,nj->nij", x, x), seg, axis=0)
    gram += np.diag(penalty)
    rhs = np.add.reduceat(x * target[:, None], seg, axis=0)
    return _solve_spd(gram, rhs)


def _logistic_objective(x: np.ndarray, y: np.ndarray, offset: np.ndarray, seg: np.ndarray,
                        penalty: np.ndarray, w_rows: np.ndarray, w: np.ndarray,
                        ) -> np.ndarray:
    s = offset + np.einsum("ni,ni->n", x, w_rows)
    per = np.logaddexp(0.0, s) - y * s
    return np.asarray(np.add.reduceat(per, seg) + 0.5 * np.einsum("ui,i,ui->u", w, penalty, w))


def logistic_newton(x: np.ndarray, y: np.ndarray, offset: np.ndarray, seg: np.ndarray,
                     penalty: np.ndarray, steps: int) -> np.ndarray:
    """Newton's method with step halving on each user's penalised logistic loss."""
    n_users, d = seg.size, x.shape[1]
    lengths = np.diff(np.append(seg, x.shape[0]))
    owner = np.repeat(np.arange(n_users), lengths)
    w = np.zeros((n_users, d))
    obj = _logistic_objective(x, y, offset, seg, penalty, w[owner], w)
    # Stop once the Newton decrement g' H^-1 g (about twice the distance to the optimum in
    # objective) is negligible; eps alone would leave gradients of order 1e-7.
    tol = 1e-20
    for _ in range(steps):
        s = offset + np.einsum("ni,ni->n", x, w[owner])
        p = 0.5 * (1.0 + np.tanh(0.5 * s))           # sigmoid without overflow
        grad = np.add.reduceat(x * (p - y)[:, None], seg, axis=0) + penalty * w
        curv = p * (1.0 - p)
        hess = np.add.reduceat(np.einsum("ni,nj->nij", x * curv[:, None], x), seg, axis=0)
        hess += np.diag(penalty)
        step = _solve_spd(hess, grad)
        decrement = np.einsum("ui,ui->u", grad, step)
        if np.all(decrement <= tol * np.maximum(1.0, np.abs(obj))):
            break
        slack = 1e-12 * np.maximum(1.0, np.abs(obj))
        t = np.ones(n_users)
        pending = np.ones(n_users, dtype=bool)
        for _ in range(30):
            trial = w - t[:, None] * step
            new_obj = _logistic_objective(x, y, offset, seg, penalty, trial[owner], trial)
            # Near the optimum the decrease is below the rounding of the objective's sum;
            # a slack of that size lets the (then quadratically convergent) full step pass.
            accept = pending & (new_obj <= obj + slack)
            w[accept] = trial[accept]
            obj[accept] = new_obj[accept]
            pending &= ~accept
            if not pending.any():
                break
            t[pending] *= 0.5
    return w
