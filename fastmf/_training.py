"""The epoch loop shared by every solver: history, validation, early stopping, callbacks
and the optional progress bar."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

logger = logging.getLogger("fastmf")


class _Progress:
    """tqdm when it is installed and wanted, otherwise nothing."""

    def __init__(self, total: int, enabled: bool, desc: str) -> None:
        self._bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self._bar = tqdm(total=total, desc=desc, unit="epoch")

    def update(self, metrics: dict[str, float]) -> None:
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()})
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def run_epochs(
    step: Callable[[int], float],
    epochs: int,
    *,
    history: dict[str, list[float]],
    arrays: list[np.ndarray],
    evaluate: Callable[[], dict[str, float]] | None = None,
    monitor: str | None = None,
    patience: int | None = None,
    callback: Callable | None = None,
    model=None,
    progress: bool = False,
    desc: str = "fastmf",
    sync: Callable[[], None] | None = None,
) -> int | None:
    """Call ``step(epoch)`` for epochs 1..``epochs``, recording into ``history``.

    ``history["loss"]`` receives each epoch's training loss and, with ``evaluate``, every
    validation metric it returns gets a list of its own.  With ``patience``, training
    stops once ``history[monitor]`` (lower is better) has not improved for that many
    epochs, and ``arrays`` (the model's parameters, updated in place by ``step``) are
    restored to the best epoch's values.  ``callback(epoch, model, metrics)`` returning
    ``False`` stops training after that epoch.  Returns the best epoch when early stopping
    is on, else None.

    ``sync``, if given, brings ``arrays`` up to date with the solver's state (a solver
    may train a working copy): it is called after every epoch when validation, early
    stopping or a callback reads the model, and once when training ends, however it ends.
    """
    best_score, best_epoch, best_arrays, waited = np.inf, None, None, 0
    bar = _Progress(epochs, progress, desc)
    reads_model = evaluate is not None or callback is not None or patience is not None
    try:
        for epoch in range(1, epochs + 1):
            metrics = {"loss": step(epoch)}
            if sync is not None and reads_model:
                sync()
            if evaluate is not None:
                metrics.update(evaluate())
            for name, value in metrics.items():
                history.setdefault(name, []).append(value)
            bar.update(metrics)
            logger.info("epoch %d/%d: %s", epoch, epochs,
                        ", ".join(f"{k} {v:.6g}" for k, v in metrics.items()))
            if patience is not None:
                if metrics[monitor] < best_score:
                    best_score, best_epoch, waited = metrics[monitor], epoch, 0
                    best_arrays = [a.copy() for a in arrays]
                else:
                    waited += 1
            if callback is not None and callback(epoch, model, dict(metrics)) is False:
                break
            if patience is not None and waited >= patience:
                logger.info("early stopping after epoch %d; best epoch %d", epoch, best_epoch)
                break
    finally:
        if sync is not None:
            sync()
        bar.close()
    if best_arrays is not None:
        for target, saved in zip(arrays, best_arrays, strict=True):
            target[...] = saved
    return best_epoch
