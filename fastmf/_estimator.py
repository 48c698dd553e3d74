"""The MatrixFactorization estimator."""

from __future__ import annotations

import dataclasses

import numpy as np

from . import _als, _sgd, _training
from ._base import ParamsMixin
from ._kernels import predict as _predict_kernel
from ._losses import LOSSES
from ._serving import ServingMixin
from ._threads import effective_n_threads, threads_for
from ._validation import (
    Ratings,
    check_choice,
    check_dtype,
    check_float,
    check_ids,
    check_int,
    check_random_state,
    check_ratings,
)

SOLVERS = ("sgd", "als")
FEEDBACKS = ("explicit", "implicit")


def _initial_rows(rng: np.random.Generator, ids: np.ndarray, n: int, p: dict) -> np.ndarray:
    """Starting factors for n rows: N(0, init_scale^2), zero for rows without ratings.
    Drawn in float64 for every dtype, so float32 and float64 fits start alike."""
    rows = (rng.standard_normal((n, p["factors"])) * p["init_scale"]).astype(p["dtype"])
    rows[np.bincount(ids, minlength=n) == 0] = 0
    return rows


def _global_bias(values: np.ndarray, p: dict) -> float:
    """mu: the mean rating (squared loss) or the log-odds of the mean label (logistic), 0
    without biases.  ``values`` come in the solver's layout order, which depends only on
    the set of ratings and the seed: the same ratings in any order give the same model."""
    if not p["biases"]:
        return 0.0
    return global_bias_of_mean(float(np.mean(values, dtype=np.float64)), p)


def global_bias_of_mean(mean: float, p: dict) -> float:
    """mu from the mean value (or mean label) of the ratings; 0 without biases."""
    if not p["biases"]:
        return 0.0
    if p["loss"] == "logistic":
        mean = min(max(mean, 1e-6), 1 - 1e-6)
        return float(np.log(mean / (1.0 - mean)))
    return mean


def _keep_unrated_rows(step, arrays: list, data: Ratings):
    """Wrap an ALS sweep so rows without a rating in ``data`` keep their values (a sweep
    alone would reset them to zero)."""
    user_free = np.bincount(data.users, minlength=data.n_users) == 0
    item_free = np.bincount(data.items, minlength=data.n_items) == 0
    masks = (user_free, item_free, user_free, item_free)

    def sweep(number: int) -> float:
        kept = [a[m].copy() for a, m in zip(arrays, masks, strict=True)]
        loss = step(number)
        for a, m, rows in zip(arrays, masks, kept, strict=True):
            a[m] = rows
        return loss

    return sweep


class MatrixFactorization(ServingMixin, ParamsMixin):
    r"""Biased matrix factorisation fitted by SGD or alternating least squares (ALS).

    The model scores user :math:`u` and item :math:`i` as

    .. math:: s_{ui} = \mu + b_u + b_i + p_u \cdot q_i

    and predicts :math:`s_{ui}` itself for the squared loss (explicit ratings) or
    :math:`\sigma(s_{ui})`, a probability, for the logistic loss (binary labels).

    The objective summed over the observed ratings :math:`(u, i, y)` is

    .. math::
        \sum_{(u,i,y)} \ell(y, s_{ui})
        + \tfrac{\lambda}{2} (\lVert p_u \rVert^2 + \lVert q_i \rVert^2)
        + \tfrac{\lambda_b}{2} (b_u^2 + b_i^2)

    with :math:`\ell(y, s) = (y - s)^2 / 2` (``loss="squared"``) or
    :math:`\ell(y, s) = \log(1 + e^{s}) - y s` for :math:`y \in \{0, 1\}`
    (``loss="logistic"``; labels in :math:`\{-1, +1\}` are mapped to :math:`\{0, 1\}`,
    which is the same loss as :math:`\log(1 + e^{-y s})`).

    **Weight decay.** The L2 penalty is attached to every rating, as in Funk's and
    Surprise's SVD: each SGD update on rating :math:`(u, i)` decays exactly the four
    parameters it touches, :math:`p_u, q_i` by :math:`(1 - \eta\lambda)` and
    :math:`b_u, b_i` by :math:`(1 - \eta\lambda_b)`, with :math:`g = -\partial\ell/\partial s`:

    .. math::
        b_u \leftarrow b_u + \eta (g - \lambda_b b_u), \quad
        p_u \leftarrow p_u + \eta (g\, q_i - \lambda p_u), \quad
        q_i \leftarrow q_i + \eta (g\, p_u - \lambda q_i)

    (both factor updates use the values from before the step).  Rows are therefore
    decayed in proportion to how often they are rated; untouched rows are never decayed.
    :math:`\mu` is not learned: it is the mean rating (squared loss) or the log-odds of
    the mean label (logistic loss), and 0 when ``biases=False``.

    Parameters
    ----------
    factors : int, default=32
        Number of latent factors :math:`k`.
    solver : {"sgd", "als"}, default="sgd"
        Optimiser.  ``"als"`` alternates exact solves of every user's and every item's
        regularised problem with the other side fixed (see Notes); it fits the same model
        and sets the same attributes.
    loss : {"squared", "logistic"}, default="squared"
        Per-rating loss :math:`\ell`.
    epochs : int, default=20
        Passes over the ratings (0 leaves the initial parameters).  For ALS, sweeps: one
        sweep solves all users, then all items.
    learning_rate : float, default=0.01
        SGD step size :math:`\eta` (constant).
    l2 : float, default=0.02
        Weight decay :math:`\lambda` of the factor rows.  For ALS this is the penalty
        :math:`\tfrac{\lambda}{2}\lVert p_u \rVert^2` of each row once (or per rating with
        ``weighted_l2``); good values are usually much larger than SGD's, e.g. 0.1 to 10.
    l2_bias : float or None, default=None
        Weight decay :math:`\lambda_b` of the biases; ``None`` uses ``l2``.
    biases : bool or None, default=None
        Learn :math:`\mu, b_u, b_i`; if False the score is :math:`p_u \cdot q_i` alone.
        ``None`` means True for explicit feedback and False for implicit feedback, which
        has no biases (``biases=True`` with ``feedback="implicit"`` is an error).
    feedback : {"explicit", "implicit"}, default="explicit"
        ``"explicit"``: the stored values are ratings (or binary labels with
        ``loss="logistic"``) and only they enter the objective.  ``"implicit"`` (ALS
        only, squared loss): every stored entry :math:`r_{ui} \ge 0` is an observed
        interaction with preference 1 and confidence :math:`c_{ui} = 1 + \alpha r_{ui}`,
        and every other (user, item) cell has preference 0 and confidence 1 (Hu, Koren &
        Volinsky 2008); the objective is
        :math:`\tfrac12 \sum_{u,i} c_{ui} (p_{ui} - p_u \cdot q_i)^2
        + \tfrac{\lambda}{2} (\sum_u \lVert p_u \rVert^2 + \sum_i \lVert q_i \rVert^2)`
        over all cells, evaluated without ever forming them.
    alpha : float, default=1.0
        Confidence scale :math:`\alpha \ge 0` of implicit feedback.
    weighted_l2 : bool, default=False
        ALS only: multiply each row's :math:`\lambda` and :math:`\lambda_b` by its
        number of ratings (ALS-WR, Zhou et al. 2008).  This is the penalty that SGD's
        per-rating weight decay corresponds to, so similar ``l2`` values then behave
        alike for both solvers.
    linear_solver : {"cholesky", "cg"} or None, default=None
        ALS only: how each row's :math:`(k+1) \times (k+1)` (or :math:`k \times k`) system
        is solved.  ``"cholesky"`` solves it exactly (BLAS-3 Gram build, ``potrf``);
        ``"cg"`` takes ``cg_steps`` conjugate-gradient steps warm-started from the
        current row (Takacs et al. 2011), cheaper per sweep and as good after a few
        sweeps.  ``None``: ``"cg"`` for implicit feedback, ``"cholesky"`` otherwise.
    cg_steps : int, default=3
        Conjugate-gradient steps per row and half-sweep (``linear_solver="cg"``).
    newton_steps : int, default=1
        ALS with ``loss="logistic"``: Newton (IRLS) steps per row and half-sweep.
    init_scale : float, default=0.1
        Factors start as independent :math:`N(0, \text{init\_scale}^2)` draws.  Users and
        items with no ratings keep zero factors and zero bias, so their prediction is the
        bias-only one.
    num_threads : int or None, default=None
        OpenMP threads: ``None`` follows ``OMP_NUM_THREADS`` (or all cores), ``-1`` all
        cores, ``n > 0`` exactly n.  The SGD result does not depend on the thread count
        for 1 to 4 threads (conflict-free blocks, see Notes).
    early_stopping : int or None, default=None
        Patience: stop when the validation metric has not improved for this many
        epochs, and keep the parameters of the best epoch.  Needs ``fit(X,
        validation=...)``.
    verbose : bool, default=False
        Show a progress bar (when tqdm is installed).  Per-epoch metrics are always
        logged to the ``"fastmf"`` logger at INFO level.
    random_state : int, numpy Generator or None, default=None
        Seeds the initial factors, the block layout and the per-epoch visiting order.
        A fixed value makes fits bit-for-bit reproducible.
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        Precision of parameters and of the copy of the ratings used for training.

    Attributes
    ----------
    user_factors_ : ndarray of shape (n_users, factors)
    item_factors_ : ndarray of shape (n_items, factors)
    user_bias_ : ndarray of shape (n_users,)
    item_bias_ : ndarray of shape (n_items,)
    global_bias_ : float
    training_loss_ : list of float
        Mean of :math:`\ell` over the ratings in each epoch, each term taken just before
        that rating's update (the penalty is not included).
        For ALS it is read after each sweep: the mean of :math:`\ell` over the ratings
        (penalty excluded); for implicit feedback it is the confidence-weighted loss
        :math:`\tfrac12 \sum_{u,i} c_{ui} (p_{ui} - s_{ui})^2` over *all* cells
        (penalty excluded) divided by the number of stored entries.
    history_ : dict of str to list of float
        Per-epoch record: ``"loss"`` (the same list as ``training_loss_``) and, when
        ``fit`` was given validation data, ``"val_rmse"`` (squared loss) or
        ``"val_log_loss"`` (logistic loss).
    best_epoch_ : int or None
        With ``early_stopping``, the epoch whose parameters the model holds.
    n_threads_ : int
        Threads the last fit used.

    Notes
    -----
    The SGD kernel splits users and items into B random groups and visits the B x B
    blocks in B strata of B blocks that share no user and no item (DSGD).  Blocks run in
    parallel without locks on the parameters, and each block waits only for the earlier
    blocks of its own user and item group, so several threads compute exactly what one
    thread does.  Within a block ratings are visited user by user, which keeps the factor rows
    in cache; each epoch shuffles the strata, the pairing of groups and where and in
    which direction each block is visited.

    **ALS.** With the items fixed, each user's problem is an L2-regularised least-squares
    problem in :math:`x_u = [p_u, b_u]` with features :math:`[q_i, 1]` and targets
    :math:`y - \mu - b_i` over its ratings, i.e. one :math:`(k+1) \times (k+1)` system
    (the bias is penalised by :math:`\lambda_b`); items are solved alike.  :math:`\mu` is
    fixed as for SGD.  For the logistic loss each row's problem is an L2-regularised
    logistic regression, improved by ``newton_steps`` Newton steps per sweep; like SGD it
    fits the observed labels only, so negative examples must be present in X.  Implicit
    feedback has no biases and sums over all cells through the Gram matrix
    :math:`Q^T Q` (computed once per half-sweep), so a sweep costs
    :math:`O(\text{nnz}\, k + (\text{users} + \text{items})\, k^2)` per CG step.  ALS
    uses no randomness after the initial factors: the result is bit-identical for any
    thread count.  Users and items without ratings get zero factors and (explicit) zero
    bias, so their prediction is the bias-only one.  A row whose system is not positive
    definite (e.g. ``l2=0`` with fewer ratings than unknowns) or non-finite raises
    :class:`fastmf.ALSError`.
    """

    def __init__(
        self,
        factors: int = 32,
        *,
        solver: str = "sgd",
        loss: str = "squared",
        epochs: int = 20,
        learning_rate: float = 0.01,
        l2: float = 0.02,
        l2_bias: float | None = None,
        biases: bool | None = None,
        feedback: str = "explicit",
        alpha: float = 1.0,
        weighted_l2: bool = False,
        linear_solver: str | None = None,
        cg_steps: int = 3,
        newton_steps: int = 1,
        init_scale: float = 0.1,
        early_stopping: int | None = None,
        verbose: bool = False,
        num_threads: int | None = None,
        random_state=None,
        dtype=np.float32,
    ) -> None:
        self.factors = factors
        self.solver = solver
        self.loss = loss
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.l2 = l2
        self.l2_bias = l2_bias
        self.biases = biases
        self.feedback = feedback
        self.alpha = alpha
        self.weighted_l2 = weighted_l2
        self.linear_solver = linear_solver
        self.cg_steps = cg_steps
        self.newton_steps = newton_steps
        self.init_scale = init_scale
        self.early_stopping = early_stopping
        self.verbose = verbose
        self.num_threads = num_threads
        self.random_state = random_state
        self.dtype = dtype

    # ------------------------------------------------------------------ fitting
    def fit(self, X, *, validation=None, callback=None) -> MatrixFactorization:
        """Fit the model to observed ratings.

        Parameters
        ----------
        X : scipy.sparse matrix of shape (n_users, n_items), or tuple of three arrays
            The ratings.  Every stored entry is a rating, explicit zeros included.  Any
            sparse format is accepted (converted once; the caller's matrix is never
            modified).  A ``(users, items, values)`` tuple gives one rating per position,
            with ``n_users = max(users) + 1`` and likewise for items.  A (user, item)
            pair may appear only once.
        validation : same forms as X, optional
            Held-out ratings of users and items of X, scored after every epoch into
            ``history_`` (RMSE for the squared loss, log loss for the logistic loss);
            needed by ``early_stopping``.  Not available for implicit feedback.
        callback : callable, optional
            ``callback(epoch, model, metrics)`` after every epoch, with the model usable
            (predict works) and ``metrics`` a dict of this epoch's values; returning
            ``False`` stops training.

        A ``KeyboardInterrupt`` (Ctrl-C) during ``fit`` takes effect at the end of the
        current epoch: the model keeps the parameters and history so far and the
        interrupt is raised again.  If training diverges the model is left unfitted.

        Returns
        -------
        self
        """
        p = self._check_params()
        data = check_ratings(X, p["dtype"], loss=p["loss"])
        evaluate, monitor = self._validation(validation, data, p)
        rng = check_random_state(self.random_state)
        n_threads = effective_n_threads(self.num_threads)

        arrays = self._init_parameters(data, p, rng)
        step, mu = self._solver_step(data, p, arrays, rng, n_threads)
        del data       # the solver holds its own layout: free the triples while training
        self._publish(arrays, mu, p, n_threads, {"loss": []})
        self._rng = rng
        return self._train(step, p["epochs"], p, arrays, evaluate, monitor, callback)

    def partial_fit(self, X, *, epochs: int | None = None, validation=None,
                    callback=None) -> MatrixFactorization:
        """Continue training from the current parameters.

        Runs ``epochs`` more epochs (default: the ``epochs`` parameter) on ``X``, which
        may hold new ratings only (SGD) or all of them.  Users and items beyond the
        current shape are added: their factors start like in :meth:`fit` and their biases
        at 0.  Rows that have no rating in ``X`` keep their values (for ALS too).  The
        global bias stays as fitted, and ``history_`` continues.  On an unfitted model
        this is :meth:`fit`.  ``factors``, ``loss``, ``biases``, ``feedback`` and
        ``dtype`` cannot change between calls.

        Returns
        -------
        self
        """
        if not hasattr(self, "user_factors_"):
            if epochs is not None:
                self.epochs = epochs
            return self.fit(X, validation=validation, callback=callback)
        p = self._check_params()
        fitted = {"factors": self.user_factors_.shape[1], "dtype": self.user_factors_.dtype,
                  **self._fitted}
        for name, value in fitted.items():
            if p[name] != value:
                raise ValueError(
                    f"partial_fit cannot change {name} from {value!r} to {p[name]!r}; "
                    "call fit to start over")
        n_epochs = p["epochs"] if epochs is None else check_int("epochs", epochs, low=0)
        data = check_ratings(X, p["dtype"], loss=p["loss"])
        data = dataclasses.replace(
            data, n_users=max(data.n_users, self.user_factors_.shape[0]),
            n_items=max(data.n_items, self.item_factors_.shape[0]))
        evaluate, monitor = self._validation(validation, data, p)
        rng = getattr(self, "_rng", None) or check_random_state(self.random_state)
        n_threads = effective_n_threads(self.num_threads)
        arrays = [
            self._grown(self.user_factors_, data.users, data.n_users, p, rng),
            self._grown(self.item_factors_, data.items, data.n_items, p, rng),
            self._grown(self.user_bias_, data.users, data.n_users, p, rng),
            self._grown(self.item_bias_, data.items, data.n_items, p, rng),
        ]
        step, _ = self._solver_step(data, p, arrays, rng, n_threads, mu=self.global_bias_)
        if p["solver"] == "als":
            step = _keep_unrated_rows(step, arrays, data)
        del data
        self._publish(arrays, self.global_bias_, p, n_threads, self.history_)
        self._rng = rng
        return self._train(step, n_epochs, p, arrays, evaluate, monitor, callback)

    @staticmethod
    def _grown(a: np.ndarray, ids: np.ndarray, n: int, p: dict,
               rng: np.random.Generator) -> np.ndarray:
        """``a`` with rows appended up to n: new factor rows drawn as in fit, new biases 0."""
        if a.shape[0] >= n:
            return a
        if a.ndim == 2:
            new_ids = ids[ids >= a.shape[0]] - a.shape[0]
            extra = _initial_rows(rng, new_ids, n - a.shape[0], p)
        else:
            extra = np.zeros(n - a.shape[0], dtype=a.dtype)
        return np.concatenate([a, extra])

    def _train(self, step, epochs: int, p: dict, arrays: list, evaluate, monitor,
               callback) -> MatrixFactorization:
        try:
            self.best_epoch_ = _training.run_epochs(
                step, epochs, history=self.history_, arrays=arrays, evaluate=evaluate,
                monitor=monitor, patience=p["early_stopping"], callback=callback,
                model=self, progress=p["verbose"], desc=f"fastmf {p['solver']}",
                sync=getattr(step, "sync", None),
            )
        except KeyboardInterrupt:
            raise                  # parameters and history so far stay usable
        except BaseException:
            self._unpublish()      # e.g. divergence: the parameters are not usable
            raise
        return self

    def _solver_step(self, data: Ratings, p: dict, arrays: list, rng: np.random.Generator,
                     n_threads: int, mu: float | None = None):
        """``(step, mu)``: a function running one epoch of the chosen solver in place on
        ``arrays``, and the global bias it uses (computed unless given)."""
        factors_u, factors_i, bias_u, bias_i = arrays
        if p["solver"] == "sgd":
            blocks = _sgd.choose_blocks(data.n_users, data.n_items, p["factors"],
                                        p["dtype"].itemsize, n_threads)
            blocked = _sgd.block_layout(data, blocks, rng, n_threads)
            if mu is None:
                mu = _global_bias(blocked.values, p)
            step = _sgd.Training(
                blocked, arrays, mu, rng.integers(0, 2**64, size=1, dtype=np.uint64),
                learning_rate=p["learning_rate"], l2=p["l2"], l2_bias=p["l2_bias"],
                biases=p["biases"], loss_code=LOSSES[p["loss"]].code, n_threads=n_threads)
            return step, mu
        cfg = _als.config_of(p)
        als_data = _als.prepare(data, cfg.model, n_threads)
        if mu is None:
            mu = _global_bias(als_data.by_user.data, p)

        def als_sweep(number: int) -> float:
            return _als.sweep(als_data, factors_u, factors_i, bias_u, bias_i, cfg,
                              global_bias=mu, n_threads=n_threads, number=number)

        return als_sweep, mu

    def _validation(self, validation, data: Ratings, p: dict):
        """``(evaluate, monitor)`` for the validation data, or ``(None, None)``."""
        if validation is None:
            if p["early_stopping"] is not None:
                raise ValueError(
                    f"early_stopping={p['early_stopping']} needs validation data: "
                    "call fit(X, validation=X_val)")
            return None, None
        if p["feedback"] == "implicit":
            raise ValueError("validation is not available for feedback='implicit'")
        val = check_ratings(validation, p["dtype"], loss=p["loss"])
        users = check_ids("validation users", val.users, data.n_users)
        items = check_ids("validation items", val.items, data.n_items)
        name = "val_log_loss" if p["loss"] == "logistic" else "val_rmse"
        metric = LOSSES[p["loss"]].value

        def evaluate() -> dict[str, float]:
            scores = self.decision_function(users, items).astype(np.float64)
            if p["loss"] == "logistic":
                return {name: float(np.mean(metric(val.values, scores)))}
            return {name: float(np.sqrt(np.mean((val.values - scores) ** 2)))}

        return evaluate, name

    def _publish(self, arrays: list, mu: float, p: dict, n_threads: int,
                 history: dict) -> None:
        """Expose the (live) parameter arrays as fitted attributes."""
        (self.user_factors_, self.item_factors_, self.user_bias_,
         self.item_bias_) = arrays
        self.global_bias_ = float(mu)
        self.history_ = history
        self.training_loss_ = self.history_["loss"]
        self.best_epoch_ = None
        self.n_threads_ = n_threads
        # what predictions and partial_fit rely on, whatever the parameters say later
        self._fitted = {name: p[name] for name in ("loss", "biases", "feedback")}

    def _unpublish(self) -> None:
        for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_",
                     "global_bias_", "history_", "training_loss_", "best_epoch_",
                     "n_threads_", "_fitted", "_rng"):
            self.__dict__.pop(name, None)

    def _check_params(self) -> dict:
        p = {
            "factors": check_int("factors", self.factors, low=1),
            "solver": check_choice("solver", self.solver, SOLVERS),
            "loss": check_choice("loss", self.loss, LOSSES),
            "epochs": check_int("epochs", self.epochs, low=0),
            "learning_rate": check_float("learning_rate", self.learning_rate,
                                         low_inclusive=False),
            "l2": check_float("l2", self.l2),
            "init_scale": check_float("init_scale", self.init_scale),
            "early_stopping": None if self.early_stopping is None else check_int(
                "early_stopping", self.early_stopping, low=1),
            "dtype": check_dtype(self.dtype),
        }
        p["l2_bias"] = p["l2"] if self.l2_bias is None else check_float("l2_bias", self.l2_bias)
        p["feedback"] = check_choice("feedback", self.feedback, FEEDBACKS)
        p["alpha"] = check_float("alpha", self.alpha)
        p["cg_steps"] = check_int("cg_steps", self.cg_steps, low=1)
        p["newton_steps"] = check_int("newton_steps", self.newton_steps, low=1)
        if self.linear_solver is None:
            p["linear_solver"] = "cg" if p["feedback"] == "implicit" else "cholesky"
        else:
            p["linear_solver"] = check_choice("linear_solver", self.linear_solver,
                                              _als.LINEAR_SOLVERS)
        for name in ("weighted_l2", "biases", "verbose"):
            value = getattr(self, name)
            if not isinstance(value, bool | np.bool_) and not (name == "biases" and value
                                                                 is None):
                raise TypeError(f"{name} must be a bool, got {value!r}")
        implicit = p["feedback"] == "implicit"
        if implicit and p["solver"] != "als":
            raise ValueError(
                f"feedback='implicit' needs solver='als', got solver={p['solver']!r}"
            )
        if implicit and p["loss"] != "squared":
            raise ValueError(
                f"feedback='implicit' is fitted with the squared loss, got loss={p['loss']!r}"
            )
        if implicit and self.biases:
            raise ValueError(
                "biases=True is not available with feedback='implicit' (implicit ALS has no "
                "biases): use biases=None or False"
            )
        p["weighted_l2"] = bool(self.weighted_l2)
        p["verbose"] = bool(self.verbose)
        p["biases"] = (not implicit) if self.biases is None else bool(self.biases)
        return p

    @staticmethod
    def _init_parameters(data: Ratings, p: dict, rng: np.random.Generator):
        dtype = p["dtype"]
        factors_u = _initial_rows(rng, data.users, data.n_users, p)
        factors_i = _initial_rows(rng, data.items, data.n_items, p)
        bias_u = np.zeros(data.n_users, dtype=dtype)
        bias_i = np.zeros(data.n_items, dtype=dtype)
        return [factors_u, factors_i, bias_u, bias_i]

    def save(self, path) -> None:
        """Write the fitted model to a single ``.npz`` file (no pickles); read it back with
        :func:`fastmf.load`.  The round trip is exact."""
        from ._persistence import save

        save(self, path)

    # ---------------------------------------------------------------- predicting
    def predict(self, users, items) -> np.ndarray:
        """Predicted rating (squared loss) or probability of a positive label (logistic
        loss) for each (user, item) pair.

        Parameters
        ----------
        users, items : array-like of int, same length
            Indices of users and items seen in training.

        Returns
        -------
        ndarray of the model dtype, same length as ``users``
        """
        return self._predict(users, items, raw=False)

    def decision_function(self, users, items) -> np.ndarray:
        """Raw scores :math:`\\mu + b_u + b_i + p_u \\cdot q_i` (no sigmoid)."""
        return self._predict(users, items, raw=True)

    def _predict(self, users, items, *, raw: bool) -> np.ndarray:
        self._check_fitted()
        u = check_ids("users", users, self.user_factors_.shape[0])
        i = check_ids("items", items, self.item_factors_.shape[0])
        if u.shape != i.shape:
            raise ValueError(
                f"users and items must have the same length, got {u.size} and {i.size}"
            )
        out = np.empty(u.shape[0], dtype=self.user_factors_.dtype)
        _predict_kernel.predict_pairs(
            u, i, self.user_factors_, self.item_factors_, self.user_bias_,
            self.item_bias_, self.global_bias_, LOSSES[self._fitted["loss"]].code, raw, out,
            threads_for(effective_n_threads(self.num_threads),
                        u.shape[0] * (self.user_factors_.shape[1] + 1)),
        )
        return out

    def _check_fitted(self) -> None:
        if not hasattr(self, "user_factors_"):
            raise AttributeError(
                f"this {type(self).__name__} is not fitted yet: call fit(X) first"
            )
