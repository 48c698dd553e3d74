"""The estimator's parameters, checked once.

:func:`check_params` reads the constructor arguments of a
:class:`~fastmf.MatrixFactorization` (stored unchanged, as scikit-learn requires) and
returns a frozen :class:`Params`: every value checked, every default resolved
(``l2_bias``, ``biases``, ``linear_solver``).  Everything downstream (the fit, the
solvers, serving, persistence, ``fastmf.distributed``) reads that object; its methods
give each solver's kernel settings, so no module builds them by hand.

``num_threads`` and ``random_state`` are not in it: they are read when they are used
(the effective thread count depends on the environment at that moment, and a random
generator is state, not a setting).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _als, _sgd
from ._inputs import check_unknown
from ._loss_table import LOSSES
from ._validation import check_choice, check_dtype, check_float, check_int

if TYPE_CHECKING:
    from ._state import FittedState

SOLVERS = ("sgd", "als")
FEEDBACKS = ("explicit", "implicit")
_INT_MAX = int(np.iinfo(np.int32).max)      # the kernels take these counts as C ints
# Newton steps of a logistic fold-in: from zero, IRLS on an L2-regularised logistic
# regression reaches machine precision in well under this many steps.
_FOLD_IN_NEWTON_STEPS = 25


@dataclass(frozen=True)
class Params:
    """The checked parameters of one estimator (see MatrixFactorization for their
    meaning), defaults resolved."""

    factors: int
    solver: str                 # "sgd" or "als"
    loss: str                   # "squared", "logistic", "bpr", "softmax" or "warp"
    epochs: int
    learning_rate: float
    l2: float
    l2_bias: float              # l2 when the estimator's l2_bias is None
    init_scale: float
    early_stopping: int | None
    validation_k: int           # cut-off of the ranking metrics of implicit validation
    validation_users: int | None    # validation users sampled per fit (None: all)
    dtype: np.dtype[Any]
    feedback: str               # "explicit" or "implicit"
    alpha: float
    cg_steps: int
    newton_steps: int
    linear_solver: str          # "cholesky", "cg" or "subspace", never None
    weighted_l2: bool
    verbose: bool
    biases: bool                # never None
    columns: tuple[Any, ...] | None     # a DataFrame's (user, item[, value]) columns
    unknown: str                # "bias" or "raise"
    clip: bool | tuple[float, float]
    block_size: int = 16
    l2_exponent: float = 1.0
    l2_unobserved: float = 0.0
    negatives: int = 1          # softmax: per user and block; WARP: most draws (never None)
    temperature: float = 1.0    # softmax: tau

    @property
    def als_model(self) -> str:
        """The ALS kernel's model: ``"explicit"``, ``"implicit"`` or ``"logistic"``."""
        return als_model(self.feedback, self.loss)

    def sgd_settings(self) -> _sgd.SGDSettings:
        """What one SGD epoch takes."""
        return _sgd.SGDSettings(learning_rate=self.learning_rate, l2=self.l2,
                                l2_bias=self.l2_bias, biases=self.biases,
                                loss_code=LOSSES[self.loss].code, negatives=self.negatives,
                                temperature=self.temperature,
                                unit_rows=self.loss == "softmax")

    def als_settings(self) -> _als.ALSConfig:
        """What one ALS sweep takes."""
        return _als.ALSConfig(
            model=self.als_model, linear_solver=self.linear_solver,
            cg_steps=self.cg_steps, newton_steps=self.newton_steps, l2=self.l2,
            l2_bias=self.l2_bias, weighted_l2=self.weighted_l2, biases=self.biases,
            alpha=self.alpha, block_size=self.block_size, l2_exponent=self.l2_exponent,
            l2_unobserved=self.l2_unobserved)

    def fold_in_settings(self, fitted: FittedState) -> _als.ALSConfig:
        """What one ALS user step takes to fold new users into the fitted model
        ``fitted``: its loss, feedback and biases, these penalties, an exact solve
        (Cholesky, Newton to convergence), and for an SGD model the per-rating penalty
        that SGD's weight decay minimises."""
        return _als.ALSConfig(
            model=als_model(fitted.feedback, fitted.loss), linear_solver="cholesky",
            cg_steps=1, newton_steps=_FOLD_IN_NEWTON_STEPS, l2=self.l2,
            l2_bias=self.l2_bias, weighted_l2=self.weighted_l2 or self.solver == "sgd",
            biases=fitted.biases, alpha=self.alpha, l2_exponent=self.l2_exponent,
            l2_unobserved=self.l2_unobserved)

    def check_continues(self, fitted: FittedState) -> None:
        """Raise ValueError unless ``partial_fit`` with these parameters may continue
        ``fitted``: factors, dtype, loss, biases and feedback cannot change."""
        was = {"factors": fitted.factors, "dtype": fitted.dtype, **fitted.fitted}
        for name, value in was.items():
            now = getattr(self, name)
            if now != value:
                raise ValueError(
                    f"partial_fit cannot change {name} from {value!r} to {now!r}; "
                    "call fit to start over")


def als_model(feedback: str, loss: str) -> str:
    """The ALS kernel's model for a checked (feedback, loss) pair."""
    if feedback == "implicit":
        return "implicit"
    return "logistic" if loss == "logistic" else "explicit"


def default_settings(solver: str, feedback: str, loss: str) -> dict[str, Any]:
    """The values that ``None`` stands for in ``learning_rate``, ``l2``, ``weighted_l2``,
    ``init_scale`` and ``alpha``, for this solver, feedback and loss (see
    :data:`DEFAULTS` and the estimator's docstring for how they were chosen)."""
    return {**_UNUSED, **DEFAULTS[default_kind(solver, feedback, loss)]}


def default_kind(solver: str, feedback: str, loss: str) -> str:
    """The row of :data:`DEFAULTS` of a fit: "sgd", "sgd-logistic", "sgd-bpr",
    "sgd-softmax", "sgd-warp", "als-explicit", "als-implicit" or "als-logistic"."""
    if solver == "sgd":
        return "sgd" if loss == "squared" else "sgd-" + loss
    return "als-" + als_model(feedback, loss)


#: The defaults of each kind of fit.  ``bench/studies/defaults.py`` measures them against
#: a grid on MovieLens 100K, synth 1M and Gowalla; ``bench/README.md`` ("Defaults") has
#: the figures, the estimator's docstring the reasoning.
DEFAULTS: dict[str, dict[str, Any]] = {
    "sgd": {"learning_rate": 0.03, "l2": 0.05, "init_scale": 0.01},
    "sgd-logistic": {"learning_rate": 0.05, "l2": 0.02, "init_scale": 0.01},
    "sgd-bpr": {"learning_rate": 0.05, "l2": 0.001, "init_scale": 0.1},
    "sgd-softmax": {"learning_rate": 0.05, "l2": 0.0, "init_scale": 0.1},
    "sgd-warp": {"learning_rate": 0.005, "l2": 0.001, "init_scale": 0.1},
    "als-explicit": {"l2": 0.1, "weighted_l2": True, "init_scale": 0.01},
    "als-implicit": {"l2": 3.0, "weighted_l2": True, "alpha": 160.0, "init_scale": 0.01},
    "als-logistic": {"l2": 0.05, "weighted_l2": True, "init_scale": 0.01},
}
# What a kind of fit does not use (SGD has no alpha or weighted_l2, ALS no step size):
# values that keep get_params and the model file plain, and pass the checks.
_UNUSED: dict[str, Any] = {"learning_rate": 0.01, "weighted_l2": False, "alpha": 1.0}


def check_params(estimator: Any) -> Params:
    """The estimator's constructor arguments, checked, as :class:`Params`; raises
    TypeError or ValueError naming the first bad argument."""
    e = estimator
    factors = check_int("factors", e.factors, low=1, high=_INT_MAX)
    solver = check_choice("solver", e.solver, SOLVERS)
    loss = check_choice("loss", e.loss, LOSSES)
    feedback = check_choice("feedback", e.feedback, FEEDBACKS)
    default = default_settings(solver, feedback, loss)

    def given(name: str) -> Any:
        value = getattr(e, name)
        return default[name] if value is None else value

    epochs = check_int("epochs", e.epochs, low=0)
    learning_rate = check_float("learning_rate", given("learning_rate"),
                                low_inclusive=False)
    l2 = check_float("l2", given("l2"))
    init_scale = check_float("init_scale", given("init_scale"))
    early_stopping = (None if e.early_stopping is None
                      else check_int("early_stopping", e.early_stopping, low=1))
    validation_k = check_int("validation_k", e.validation_k, low=1, high=_INT_MAX)
    validation_users = (None if e.validation_users is None
                        else check_int("validation_users", e.validation_users, low=1))
    dtype = check_dtype(e.dtype)
    l2_bias = l2 if e.l2_bias is None else check_float("l2_bias", e.l2_bias)
    alpha = check_float("alpha", given("alpha"))
    weighted_l2 = given("weighted_l2")
    cg_steps = check_int("cg_steps", e.cg_steps, low=1, high=_INT_MAX)
    newton_steps = check_int("newton_steps", e.newton_steps, low=1, high=_INT_MAX)
    if e.linear_solver is None:
        linear_solver = "cg" if feedback == "implicit" else "cholesky"
    else:
        linear_solver = check_choice("linear_solver", e.linear_solver, _als.LINEAR_SOLVERS)
    for name, value in (("weighted_l2", weighted_l2), ("biases", e.biases),
                        ("verbose", e.verbose)):
        if not isinstance(value, bool | np.bool_) and not (name == "biases"
                                                           and value is None):
            raise TypeError(f"{name} must be a bool, got {value!r}")
    implicit = feedback == "implicit"
    block_size = check_int("block_size", e.block_size, low=1, high=_INT_MAX)
    l2_exponent = check_float("l2_exponent", e.l2_exponent)
    l2_unobserved = check_float("l2_unobserved", e.l2_unobserved)
    _check_penalty_form(solver, feedback, bool(weighted_l2), l2_exponent, l2_unobserved)
    ranking = LOSSES[loss].ranking
    if ranking and not implicit:
        raise ValueError(f"loss={loss!r} is a ranking loss for interactions: it needs "
                         "feedback='implicit' (and solver='sgd')")
    if implicit and solver == "als" and loss != "squared":
        raise ValueError("feedback='implicit' with solver='als' is fitted with the squared "
                         f"loss, got loss={loss!r}")
    if implicit and solver == "sgd" and not ranking:
        raise ValueError("feedback='implicit' with solver='sgd' needs a ranking loss "
                         f"(loss='bpr', 'softmax' or 'warp'), got loss={loss!r}")
    if implicit and e.biases:
        raise ValueError(
            "biases=True is not available with feedback='implicit' (implicit models have "
            "no biases): use biases=None or False")
    negatives = _check_negatives(e.negatives, loss)
    # below 0.01 the softmax's exponentials of cosines (e^{(c - 1)/tau}) underflow
    temperature = check_float("temperature", e.temperature, low=0.01)
    return Params(
        factors=factors, solver=solver, loss=loss, epochs=epochs,
        learning_rate=learning_rate, l2=l2, l2_bias=l2_bias, init_scale=init_scale,
        early_stopping=early_stopping, validation_k=validation_k,
        validation_users=validation_users, dtype=dtype, feedback=feedback, alpha=alpha,
        cg_steps=cg_steps, newton_steps=newton_steps, linear_solver=linear_solver,
        weighted_l2=bool(weighted_l2), verbose=bool(e.verbose),
        biases=(not implicit) if e.biases is None else bool(e.biases),
        columns=_check_columns(e.columns), unknown=check_unknown(e.unknown),
        clip=_check_clip(e.clip), block_size=block_size, l2_exponent=l2_exponent,
        l2_unobserved=l2_unobserved, negatives=negatives, temperature=temperature)


def _check_penalty_form(solver: str, feedback: str, weighted_l2: bool,
                        l2_exponent: float, l2_unobserved: float) -> None:
    """``l2_exponent`` and ``l2_unobserved`` shape the count-scaled ALS penalty: raise
    ValueError where they are set but there is no such penalty (or, for
    ``l2_unobserved``, no unobserved cells)."""
    for name, value, default in (("l2_exponent", l2_exponent, 1.0),
                                 ("l2_unobserved", l2_unobserved, 0.0)):
        if value != default and not (solver == "als" and weighted_l2):
            raise ValueError(
                f"{name}={value!r} shapes the count-scaled ALS penalty: it needs "
                f"solver='als' and weighted_l2=True (got solver={solver!r}, "
                f"weighted_l2={weighted_l2})")
    if l2_unobserved != 0 and feedback != "implicit":
        raise ValueError(
            f"l2_unobserved={l2_unobserved!r} counts the unobserved cells of implicit "
            f"feedback: it needs feedback='implicit' (got feedback={feedback!r})")


#: ``negatives`` when None: per user and block for ``loss="softmax"``, the most draws per
#: positive for ``loss="warp"`` (LightFM's ``max_sampled``).
SOFTMAX_NEGATIVES = 256
WARP_DRAWS = 10
# The kernel's scratch holds a thread's negatives (36 bytes each): this bounds it to
# about 36 MiB per thread.
_MAX_NEGATIVES = 1 << 20


def _check_negatives(negatives: Any, loss: str) -> int:
    """The number of negatives a ranking step draws: softmax's and WARP's ``negatives``
    (default :data:`SOFTMAX_NEGATIVES`, :data:`WARP_DRAWS`); BPR draws one (``None`` or
    1)."""
    if loss in ("softmax", "warp"):
        if negatives is None:
            return SOFTMAX_NEGATIVES if loss == "softmax" else WARP_DRAWS
        return check_int("negatives", negatives, low=1, high=_MAX_NEGATIVES)
    if negatives is None:
        return 1
    value = check_int("negatives", negatives, low=1, high=_MAX_NEGATIVES)
    if value != 1:
        raise ValueError(f"negatives={value} is for loss='softmax' or 'warp' (loss={loss!r} "
                         "draws one negative per positive, or none): leave it None")
    return value


def _check_columns(columns: Any) -> tuple[Any, ...] | None:
    if columns is None:
        return None
    if isinstance(columns, str) or not isinstance(columns, tuple | list) or len(
            columns) not in (2, 3):
        raise ValueError("columns must be None or the names of the user, item and "
                         f"(optionally) value columns, got {columns!r}")
    return tuple(columns)


def _check_clip(clip: Any) -> bool | tuple[float, float]:
    if isinstance(clip, bool | np.bool_):
        return bool(clip)
    if isinstance(clip, tuple | list) and len(clip) == 2:
        low = check_float("clip[0]", clip[0], low=-np.inf)
        high = check_float("clip[1]", clip[1], low=low)
        return low, high
    raise TypeError(f"clip must be True, False or (low, high), got {clip!r}")
