"""Training curves with matplotlib (an optional dependency, imported only when used)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ._estimator import MatrixFactorization

__all__ = ["plot_history"]


def plot_history(model: MatrixFactorization, ax: Axes | None = None) -> Figure:
    """Plot a fitted model's per-epoch training loss and validation metrics.

    Parameters
    ----------
    model : MatrixFactorization
        A fitted model; its ``history_`` is drawn (training loss on the left axis,
        validation metrics on a right-hand axis, the best epoch marked when early
        stopping chose one).
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made when omitted.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import fastmf
    >>> from fastmf.datasets import make_ratings
    >>> from fastmf.model_selection import train_test_split
    >>> train, val = train_test_split(make_ratings(300, 200, 6_000, seed=0), random_state=0)
    >>> model = fastmf.MatrixFactorization(8, epochs=5, random_state=0)
    >>> fig = fastmf.plot_history(model.fit(train, validation=val))
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['training loss', 'validation']
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plot_history needs matplotlib: pip install matplotlib") from exc
    history = model.history_       # AttributeError before any figure if not fitted
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = cast("Figure", ax.figure)
    epochs = range(1, len(history["loss"]) + 1)
    lines = ax.plot(epochs, history["loss"], marker="o", ms=3, label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    others = [name for name in history if name != "loss"]
    if others:
        right = ax.twinx()
        for name, color in zip(others, ("tab:orange", "tab:green", "tab:red"), strict=False):
            lines += right.plot(range(1, len(history[name]) + 1), history[name], marker="s",
                                ms=3, color=color, label=name)
        right.set_ylabel("validation")
    best = getattr(model, "best_epoch_", None)
    if best:
        lines.append(ax.axvline(best, color="grey", ls="--", label="best epoch"))
    ax.legend(lines, [str(line.get_label()) for line in lines], loc="upper right")
    ax.set_title(f"{type(model).__name__}: {model.solver}, {model.loss} loss")
    fig.tight_layout()
    return fig
