"""The MatrixFactorization estimator: its parameters, documentation and public methods.

The work is done elsewhere: :mod:`._params` checks the parameters, :mod:`._fitting`
runs a fit, :mod:`._state` holds the fitted state, :mod:`._serving` uses it and
:mod:`._persistence` saves it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import _fitting
from ._attributes import FittedModelMixin
from ._base import ParamsMixin
from ._params import check_params
from ._persistence import PersistenceMixin
from ._serving import ServingMixin
from ._sklearn import SklearnMixin
from ._state import published

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

    from ._typing import EpochCallback, RandomStateLike, RatingsLike


class MatrixFactorization(SklearnMixin, ServingMixin, PersistenceMixin, FittedModelMixin,
                          ParamsMixin):
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
    loss : {"squared", "logistic", "bpr", "softmax", "warp"}, default="squared"
        Per-rating loss :math:`\ell`.  With float32 parameters, SGD's logistic steps
        take :math:`e^{-|s|}` from an inline approximation (within 2 ulp; the sigmoid
        within 2.4e-7 relative), so they differ from steps with the exact sigmoid in the
        last bits; predictions always use the exact sigmoid.  ``"bpr"``,
        ``"softmax"`` and ``"warp"`` are ranking losses for implicit feedback
        (``solver="sgd"``, ``feedback="implicit"``; see "Ranking losses" in the Notes).
    epochs : int, default=20
        Passes over the ratings (0 leaves the initial parameters).  For ALS, sweeps: one
        sweep solves all users, then all items.
    learning_rate : float or None, default=None
        SGD step size :math:`\eta` (constant).  ``None``: the default of the solver
        and loss (see "Defaults" in the Notes).
    l2 : float or None, default=None
        Weight decay :math:`\lambda` of the factor rows.  For ALS this is the penalty
        :math:`\tfrac{\lambda}{2}\lVert p_u \rVert^2` of each row once (or per rating with
        ``weighted_l2``).  ``None``: the default of the solver, feedback and loss (see
        "Defaults" in the Notes).
    l2_bias : float or None, default=None
        Weight decay :math:`\lambda_b` of the biases; ``None`` uses ``l2``.
    biases : bool or None, default=None
        Learn :math:`\mu, b_u, b_i`; if False the score is :math:`p_u \cdot q_i` alone.
        ``None`` means True for explicit feedback and False for implicit feedback, which
        has no biases (``biases=True`` with ``feedback="implicit"`` is an error).
    feedback : {"explicit", "implicit"}, default="explicit"
        ``"explicit"``: the stored values are ratings (or binary labels with
        ``loss="logistic"``) and only they enter the objective.  ``"implicit"`` with
        ``solver="als"`` (squared loss): every stored entry :math:`r_{ui} \ge 0` is an
        interaction with preference 1 and confidence :math:`1 + \alpha r_{ui}`, every
        other cell preference 0 and confidence 1, and the squared error runs over all
        cells (Hu, Koren & Volinsky 2008; see the user guide, "Implicit feedback").
        ``"implicit"`` with ``solver="sgd"`` needs a ranking loss (``loss="bpr"``,
        ``"softmax"`` or ``"warp"``): every stored entry is a positive, whatever its
        value.
    alpha : float or None, default=None
        Confidence scale :math:`\alpha \ge 0` of implicit feedback.  ``None``: the
        default (see "Defaults" in the Notes).
    weighted_l2 : bool or None, default=None
        ALS only: multiply each row's :math:`\lambda` and :math:`\lambda_b` by its
        number of ratings (ALS-WR, Zhou et al. 2008).  This is the penalty that SGD's
        per-rating weight decay corresponds to, so similar ``l2`` values then behave
        alike for both solvers.  ``None``: the default of the feedback and loss (see
        "Defaults" in the Notes).
    l2_exponent : float, default=1.0
        ALS with ``weighted_l2``: raise the row's count to this power :math:`\nu \ge 0`,
        so the penalty is :math:`\lambda\, n^\nu` (the frequency-scaled L2 of "Revisiting
        the performance of iALS", Rendle et al. 2022).  1 is plain ALS-WR.
    l2_unobserved : float, default=0.0
        ALS with ``weighted_l2`` and implicit feedback: add to the row's count
        :math:`\zeta` = ``l2_unobserved`` :math:`\ge 0` times its :math:`N` columns,
        each weighed as an unobserved cell is against an observed one,
        :math:`1 / (1 + \alpha)`.  The penalty of a row with
        :math:`n` interactions among :math:`N` columns is then
        :math:`\lambda\, (n + \zeta N / (1 + \alpha))^\nu`.  Rendle et al.'s penalty
        :math:`\lambda_R (n + \alpha_0 N)^\nu`, with unobserved weight
        :math:`\alpha_0` on binary data, is ``l2_unobserved=1``, ``alpha``
        :math:`= 1/\alpha_0 - 1`, ``l2`` :math:`= \lambda_R / \alpha_0`, ``l2_exponent``
        :math:`= \nu` once the objective is divided by :math:`1 + \alpha` (their data
        term also weighs every observed cell's :math:`s^2` by :math:`\alpha_0`; Hu et
        al.'s, fitted here, does not).
    linear_solver : {"cholesky", "cg", "subspace"} or None, default=None
        ALS only: how each row's :math:`(k+1) \times (k+1)` (or :math:`k \times k`) system
        is solved.  ``"cholesky"`` solves it exactly (BLAS-3 Gram build, ``potrf``);
        ``"cg"`` takes ``cg_steps`` conjugate-gradient steps warm-started from the
        current row (Takacs et al. 2011), cheaper per sweep and as good after a few
        sweeps; ``"subspace"`` improves the row block by block of ``block_size``
        coordinates, each block solved exactly with the others fixed, one pass per
        half-sweep (the iALS++ solver of Rendle et al. 2021), the cheapest at large
        ``factors``.  ``None``: ``"cg"`` for implicit feedback, ``"cholesky"``
        otherwise.
    cg_steps : int, default=3
        Conjugate-gradient steps per row and half-sweep (``linear_solver="cg"``).
    block_size : int, default=16
        Coordinates per block of ``linear_solver="subspace"`` (a row's bias, with
        biases, is one more coordinate).  A value above the row's unknowns is clamped
        to them: one block, an exact solve.  16 was the fastest at 512 factors on
        Gowalla, at the same accuracy as 32 (``bench/README.md``).
    newton_steps : int, default=1
        ALS with ``loss="logistic"``: Newton (IRLS) steps per row and half-sweep.
    init_scale : float or None, default=None
        Factors start as independent :math:`N(0, \text{init\_scale}^2)` draws.  Users and
        items with no ratings keep zero factors and zero bias, so their prediction is the
        bias-only one.  ``None``: the default of the solver (see "Defaults" in the
        Notes).
    num_threads : int or None, default=None
        OpenMP threads: ``None`` follows ``OMP_NUM_THREADS`` (or all cores), ``-1`` all
        cores, ``n > 0`` exactly n; at most ``max(64, 4 * processors)`` (more is clamped
        to that with a ``RuntimeWarning``).  The SGD result does not depend on the thread count
        for 1 to 4 threads (conflict-free blocks, see Notes).
    early_stopping : int or None, default=None
        Patience: stop when the validation metric has not improved for this many
        epochs, and keep the parameters of the best epoch.  Needs ``fit(X,
        validation=...)``.  The metric is the RMSE (squared loss) or log loss (logistic
        loss) of explicit fits, lower being better, and ndcg@``validation_k`` of
        implicit fits, higher being better.
    validation_k : int, default=20
        Implicit feedback: the length of the ranked list that the validation metrics
        (recall and ndcg at k) score.  A constructor parameter rather than a ``fit``
        argument because it chooses the epoch that early stopping keeps, so it is part
        of what a model is (``get_params``, ``clone``, searches, the model file).
    validation_users : int or None, default=None
        Implicit feedback: score the validation data of this many users, drawn once per
        fit (with ``random_state``, without changing what training draws), instead of
        all of them.  Each epoch ranks every item for every validation user, which
        costs about one ``recommend`` call for them; sampling makes it cheaper and the
        metrics noisier.
    verbose : bool, default=False
        Show a progress bar (when tqdm is installed).  Per-epoch metrics, and where
        early stopping stopped, are always logged to the ``"fastmf"`` logger at DEBUG
        level.
    random_state : int, numpy Generator or None, default=None
        Seeds the initial factors, the block layout and the per-epoch visiting order.
        A fixed value makes fits bit-for-bit reproducible.
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        Precision of parameters and of the copy of the ratings used for training.
    columns : tuple of str or None, default=None
        The user, item and (optionally) value columns of a DataFrame given to ``fit``,
        ``partial_fit``, ``score`` or the serving methods; ``None``: its first three
        columns (the first two of a two-column frame).  Without a value column every
        row is an interaction of value 1.
    unknown : {"bias", "raise"}, default="bias"
        What predictions do with users and items the model does not know (raw ids it
        never saw, indices beyond its rows): ``"bias"`` serves them from the biases, as
        Surprise falls back to its baseline estimate (:math:`\mu + b_i` for an unknown
        user, :math:`\mu + b_u` for an unknown item, :math:`\mu` for both; 0 for
        implicit feedback); ``"raise"`` raises ``ValueError``.  It applies to every
        method (``recommend`` ranks an unknown user by the item biases, ``similar_*``
        gives an unknown query an empty row, ``transform`` leaves out ratings of unknown
        items) and to validation data.
    clip : bool or (float, float), default=True
        Clip predicted explicit ratings (squared loss, explicit feedback) to the range
        of the training ratings (``True``, as Surprise does), to ``(low, high)``, or not
        (``False``).  Raw scores (``decision_function``) and the scores ``recommend``
        returns are not clipped.
    negatives : int or None, default=None
        ``loss="softmax"``: negatives drawn for each user in each block, shared by the
        user's positives there; ``None`` means 256.  ``loss="warp"``: the most draws
        per positive (LightFM's ``max_sampled``); ``None`` means 10.  Other losses:
        ``None`` (BPR draws one negative per positive).
    temperature : float, default=0.1
        ``loss="softmax"``: the temperature :math:`\tau \ge 0.01` that divides the
        cosine scores.

    Attributes
    ----------
    user_factors_ : ndarray of shape (n_users, factors)
        Read-only, like the other arrays: they belong to one immutable fitted state
        that the read-only methods share safely across threads (see the README,
        "Thread safety").  Assigning a new array publishes a new state.
    item_factors_ : ndarray of shape (n_items, factors)
    user_bias_ : ndarray of shape (n_users,)
    item_bias_ : ndarray of shape (n_items,)
    global_bias_ : float
    training_loss_ : list of float
        Mean of :math:`\ell` over the ratings in each epoch, penalty excluded (SGD: each
        term just before that rating's update; ALS: after each sweep; implicit: the
        confidence-weighted loss over *all* cells divided by the number of entries).
    history_ : dict of str to list of float
        Per-epoch record: ``"loss"`` (the same list as ``training_loss_``) and, when
        ``fit`` was given validation data, ``"val_rmse"`` (squared loss) or
        ``"val_log_loss"`` (logistic loss), or for implicit feedback
        ``"val_recall@k"`` and ``"val_ndcg@k"`` (k = ``validation_k``).
    best_epoch_ : int or None
        With ``early_stopping``, the epoch whose parameters the model holds.
    n_threads_ : int
        Threads the last fit used.
    user_ids_, item_ids_ : ndarray or None
        Raw id of each user row and item column for a model fitted on raw ids (a
        DataFrame, :class:`fastmf.data.Interactions`, string ids), else None.  Saved
        with the model; ``partial_fit`` appends new ids after the known ones.

    Notes
    -----
    The SGD kernel visits B x B blocks of users and items in strata that share no user
    and no item (DSGD), without locks, each block waiting only for the earlier blocks of
    its own groups: several threads compute exactly what one thread does (see the user
    guide, "Choosing a solver").

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

    **Ranking losses.**  With ``feedback="implicit"`` and ``solver="sgd"`` the model
    scores :math:`s_{ui} = p_u \cdot q_i` (no biases) and learns to rank each user's
    positives (the stored pairs) above the other items.  ``loss="bpr"`` (Bayesian
    personalised ranking, Rendle et al. 2009) draws one negative item :math:`j` per
    positive :math:`(u, i)` and each epoch minimises, one triple at a time,

    .. math::
        \log(1 + e^{-d}), \quad d = p_u \cdot q_i - p_u \cdot q_j,

    with :math:`g = \sigma(-d)` and the per-update decay of the other losses:

    .. math::
        p_u \leftarrow p_u + \eta (g (q_i - q_j) - \lambda p_u), \quad
        q_i \leftarrow q_i + \eta (g\, p_u - \lambda q_i), \quad
        q_j \leftarrow q_j + \eta (-g\, p_u - \lambda q_j).

    The negatives are drawn inside the DSGD block of the positive: uniformly among the
    items of the block's item group (a random :math:`1/B` of the catalogue, a new one
    every epoch), from a random stream per block seeded with the epoch's plan.  A draw
    that is one of the user's own items is dropped (that step is skipped).  So the
    blocks stay conflict-free and a ranking fit is bit-identical for any thread count,
    like the other SGD fits.  ``predict`` and ``decision_function`` return
    :math:`s_{ui}`, a score for ranking; ``score`` is the NDCG@10 of implicit feedback;
    ``transform`` folds new users in by solving the implicit least-squares problem
    (confidence :math:`1 + \alpha r`) against the fixed item factors.

    ``loss="softmax"`` is a sampled softmax (InfoNCE) over cosine scores
    :math:`c_{ui} = p_u \cdot q_i / (\lVert p_u \rVert \lVert q_i \rVert)` with a
    temperature :math:`\tau`.  The user's positives in a block share ``negatives``
    items :math:`J` drawn as above, and each positive adds

    .. math::
        -\log \frac{e^{c_{ui}/\tau}}{e^{c_{ui}/\tau} + \sum_{j \in J} e^{c_{uj}/\tau}}

    (one step per user and block: the gradients are taken at the rows from before the
    step, the decay :math:`\lambda` applies to every row the step touches).  Training
    keeps the rows' norms, which the cosine does not see: as they grow, the steps the
    cosine takes shrink, an annealing of its own (on Gowalla this ranked better than
    rescaling the rows every epoch).  The model's factor rows are the trained ones
    scaled to unit norm, so its scores :math:`p_u \cdot q_i` are the cosines it was
    trained on (``partial_fit`` continues from those unit rows).  This is
    the contrastive family of MF-CCL (SimpleX, Mao et al. 2021), whose cosine
    contrastive loss pushes each negative cosine above a margin with a hinge and a
    weight; the softmax weighs each negative by its share of the softmax instead, so
    the hardest negatives count most, and has a single knob, :math:`\tau`.  A draw
    whose item has zero factors (an item without interactions) is left out.

    ``loss="warp"`` is WARP as LightFM defines it (Weston et al. 2011), without biases:
    for a positive :math:`(u, i)` it draws candidates :math:`j` (as above, at most
    ``negatives`` of them, a dropped draw counting as one) until one violates the margin,
    :math:`s_{uj} > s_{ui} - 1`.  With :math:`d` draws made, the rank of :math:`i` is
    estimated as :math:`\lfloor (n_{items} - 1)/d \rfloor` and the step is BPR's with
    :math:`g` replaced by the weight :math:`w = \log \max(1, \lfloor (n_{items} - 1)/d
    \rfloor)` of the hinge :math:`w (1 - s_{ui} + s_{uj})`; no violator, no step.  The
    candidates come from the block's item group, a uniform random subset of the
    catalogue, so the estimate stays one of the rank among all items.

    **Defaults.**  ``learning_rate``, ``l2``, ``weighted_l2``, ``init_scale`` and
    ``alpha`` left at ``None`` take the values of the kind of fit, chosen at the default
    32 factors and 20 epochs against a grid on MovieLens 100K (folds u1-u5), 1M
    synthetic ratings and Gowalla, scored on validation data carved from the training
    data (``bench/studies/defaults.py``; the figures are in ``bench/README.md``):

    =============  =============  =====  ===========  ==========  =====
    fit            learning_rate  l2     weighted_l2  init_scale  alpha
    =============  =============  =====  ===========  ==========  =====
    SGD, explicit  0.03           0.05                0.01
    SGD, logistic  0.05           0.02                0.01
    SGD, BPR       0.05           0.001               0.1
    SGD, softmax   0.05           0                   0.1
    SGD, WARP      0.005          0.001               0.1
    ALS, explicit                 0.1    True         0.01
    ALS, implicit                 3.0    True         0.01        160
    ALS, logistic                 0.05   True         0.01
    =============  =============  =====  ===========  ==========  =====

    Every ALS fit scales its penalty by the row's count (ALS-WR), the penalty SGD's
    per-rating decay amounts to, so that one value suits rows of 5 and of 500 ratings;
    no unscaled value served both explicit sets.  The best amount of shrinkage follows
    the noise of the ratings: MovieLens wants about twice what the synthetic set (noise
    0.5) does, 0.15 against 0.07 for explicit ALS, so no one value is within 1 % of the
    best on both.  0.1 keeps MovieLens within 1 % (test RMSE 0.919 over u1-u5) and the
    synthetic set within 2.2 %; SGD's step 0.03 and decay 0.05 leave both within 2.4 %.
    A small initial scale beat 0.1 on every SGD grid row: the factors grow out of the
    residuals of the biases instead of starting from noise.  For implicit feedback,
    recall on Gowalla rose with ``alpha`` up to 160 and fell beyond, and the count-scaled
    penalty mattered little from 0.3 to 3.  The logistic values had the best AUC on the
    synthetic labels.  The ranking losses' gradients vanish when every item has the
    same factors, so their factors start larger (0.1).  The BPR values are those of
    the Gowalla comparison with implicit's BPR in ``bench/README.md`` (not tuned by a
    grid); the softmax's (temperature 0.1, step 0.05, no decay) are a starting point,
    not tuned.  WARP weighs its steps by up to :math:`\log(n_{items})` (about 10 on
    Gowalla, where BPR's step 0.05 diverged), hence a step ten times smaller.

    Examples
    --------
    Fit explicit ratings with SGD and score held-out pairs:

    >>> import numpy as np
    >>> from fastmf import MatrixFactorization
    >>> from fastmf.datasets import make_ratings
    >>> from fastmf.model_selection import train_test_split
    >>> users, items, ratings = make_ratings(600, 400, 30_000, seed=0)
    >>> train, test = train_test_split((users, items, ratings), random_state=0)
    >>> model = MatrixFactorization(factors=16, epochs=15, learning_rate=0.02,
    ...                             random_state=0)
    >>> model.fit(train)
    MatrixFactorization(factors=16, epochs=15, learning_rate=0.02, random_state=0)
    >>> pred = model.predict(test[0], test[1])
    >>> bool(np.sqrt(np.mean((pred - test[2]) ** 2)) < 0.95)
    True

    Implicit feedback (every stored entry is an interaction) has no biases:

    >>> implicit = MatrixFactorization(16, solver="als", feedback="implicit",
    ...                                epochs=5, random_state=0).fit(train)
    >>> bool(implicit.user_bias_.any())
    False
    """

    def __init__(
        self,
        factors: int = 32,
        *,
        solver: str = "sgd",
        loss: str = "squared",
        epochs: int = 20,
        learning_rate: float | None = None,
        l2: float | None = None,
        l2_bias: float | None = None,
        biases: bool | None = None,
        feedback: str = "explicit",
        alpha: float | None = None,
        weighted_l2: bool | None = None,
        l2_exponent: float = 1.0,
        l2_unobserved: float = 0.0,
        linear_solver: str | None = None,
        cg_steps: int = 3,
        block_size: int = 16,
        newton_steps: int = 1,
        init_scale: float | None = None,
        early_stopping: int | None = None,
        validation_k: int = 20,
        validation_users: int | None = None,
        verbose: bool = False,
        num_threads: int | None = None,
        random_state: RandomStateLike = None,
        dtype: DTypeLike = np.float32,
        columns: tuple[str, ...] | None = None,
        unknown: str = "bias",
        clip: bool | tuple[float, float] = True,
        negatives: int | None = None,
        temperature: float = 0.1,
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
        self.l2_exponent = l2_exponent
        self.l2_unobserved = l2_unobserved
        self.linear_solver = linear_solver
        self.cg_steps = cg_steps
        self.block_size = block_size
        self.newton_steps = newton_steps
        self.init_scale = init_scale
        self.early_stopping = early_stopping
        self.validation_k = validation_k
        self.validation_users = validation_users
        self.verbose = verbose
        self.num_threads = num_threads
        self.random_state = random_state
        self.dtype = dtype
        self.columns = columns
        self.unknown = unknown
        self.clip = clip
        self.negatives = negatives
        self.temperature = temperature

    # ------------------------------------------------------------------ fitting
    def fit(self, X: RatingsLike, y: Any = None, *,
            validation: RatingsLike | None = None,
            callback: EpochCallback | None = None) -> MatrixFactorization:
        """Fit the model to observed ratings.

        Parameters
        ----------
        X : sparse matrix, (users, items, values) triples, DataFrame or Interactions
            The ratings, by row index or by raw id; a (user, item) pair may appear only
            once.  The caller's data is never modified.

            * a scipy.sparse matrix of shape (n_users, n_items), any format: every
              stored entry is a rating, explicit zeros included;
            * ``(users, items, values)`` of row indices: one rating per position.  The
              model has ``shape[0]`` users and ``shape[1]`` items for
              :class:`fastmf.data.Triples` (what the splitters, the readers and
              ``make_ratings`` return), else ``max(users) + 1`` and ``max(items) + 1``;
            * raw ids: a pandas DataFrame with one rating per row (``columns``),
              :class:`fastmf.data.Interactions`, or triples whose ids are strings.  The
              model keeps the ids (``user_ids_``, ``item_ids_``) and its methods take
              and return them (``raw_ids``).
        y : None
            Ignored (scikit-learn's signature: the ratings are in ``X``).
        validation : same forms as X, optional
            Held-out ratings of users and items of X, scored after every epoch into
            ``history_`` (RMSE for the squared loss, log loss for the logistic loss);
            needed by ``early_stopping``.  For implicit feedback, held-out interactions
            (entries with a value > 0): every item is ranked for each of their users
            (``validation_users`` of them if set), the user's training interactions left
            out, and recall and ndcg at ``validation_k`` are recorded, as
            :func:`fastmf.metrics.recall_at_k` and :func:`~fastmf.metrics.ndcg_at_k`
            compute them; interactions of users or items that X lacks are left out (as
            ``score`` leaves them out), or refused with ``unknown="raise"``.
        callback : callable, optional
            ``callback(epoch, model, metrics)`` after every epoch, with the model usable
            (predict works) and ``metrics`` a dict of this epoch's values; returning
            ``False`` stops training.

        Returns
        -------
        self

        Notes
        -----
        Training works on private arrays, published in one step at the end: other
        threads see the previous state until then, and a fit that fails leaves the model
        as it was.  Ctrl-C takes effect at the end of the current epoch, which is kept
        (a second Ctrl-C stops at once, leaving the model as it was).

        Examples
        --------
        Any ``scipy.sparse`` matrix works, and so does a ``(users, items, values)`` tuple;
        validation data fills ``history_`` epoch by epoch:

        >>> import scipy.sparse as sp
        >>> from fastmf import MatrixFactorization
        >>> from fastmf.datasets import make_ratings
        >>> from fastmf.model_selection import train_test_split
        >>> train, val = train_test_split(make_ratings(300, 200, 8_000, seed=1), random_state=0)
        >>> X = sp.csr_matrix((train[2], (train[0], train[1])))
        >>> model = MatrixFactorization(8, epochs=5, random_state=0)
        >>> model = model.fit(X, validation=val)
        >>> sorted(model.history_), len(model.history_["val_rmse"])
        (['loss', 'val_rmse'], 5)
        """
        _fitting.fit(self, check_params(self), X, validation=validation, callback=callback)
        return self

    def partial_fit(self, X: RatingsLike, y: Any = None, *, epochs: int | None = None,
                    validation: RatingsLike | None = None,
                    callback: EpochCallback | None = None) -> MatrixFactorization:
        """Continue training from the current parameters.

        Runs ``epochs`` more epochs (default: the ``epochs`` parameter) on ``X``, which
        may hold new ratings only (SGD) or all of them.  Users and items beyond the
        current shape are added: their factors start like in :meth:`fit` and their biases
        at 0.  Rows that have no rating in ``X`` keep their values (for ALS too).  The
        global bias stays as fitted, and ``history_`` continues.  On an unfitted model
        this is :meth:`fit`.  ``factors``, ``loss``, ``biases``, ``feedback`` and
        ``dtype`` cannot change between calls.  A model fitted on raw ids continues on
        raw ids: ids it has not seen get new rows after the others (``user_ids_``
        grows).  Training runs on copies: if it fails, the model keeps its previous
        parameters and history.  ``y`` is ignored.

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> from fastmf import MatrixFactorization
        >>> model = MatrixFactorization(1, epochs=3, random_state=0)
        >>> model = model.fit((np.array([0, 1]), np.array([0, 1]), np.array([4.0, 3.0])))
        >>> model.user_factors_.shape
        (2, 1)
        >>> new = (np.array([2, 2]), np.array([0, 2]), np.array([5.0, 1.0]))  # user 2, item 2
        >>> model.partial_fit(new, epochs=2).user_factors_.shape
        (3, 1)
        >>> len(model.history_["loss"])
        5
        """
        old = published(self)
        if old is None:
            if epochs is not None:
                self.epochs = epochs
            return self.fit(X, validation=validation, callback=callback)
        _fitting.partial_fit(self, check_params(self), old, X, epochs=epochs,
                             validation=validation, callback=callback)
        return self
