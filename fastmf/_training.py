"""The epoch loop shared by every solver: history, validation, early stopping, callbacks,
Ctrl-C and the optional progress bar.

Progress goes to the ``"fastmf"`` logger at DEBUG level (each epoch's metrics, where
early stopping stopped); only the Ctrl-C notice is a WARNING."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

logger = logging.getLogger("fastmf")


class Validation(NamedTuple):
    """How a fit scores its validation data after each epoch: ``evaluate()`` returns the
    metrics by their history names, ``monitor`` names the one early stopping watches and
    ``higher_is_better`` its direction.  No ``evaluate``: no validation data."""

    evaluate: Callable[[], dict[str, float]] | None = None
    monitor: str | None = None
    higher_is_better: bool = False


class Interrupted(KeyboardInterrupt):
    """Training was interrupted between epochs: the arrays and the history hold the same
    whole epochs, so the caller may publish them."""


@contextmanager
def _deferred_sigint() -> Iterator[list]:
    """Within the block, Ctrl-C (SIGINT in the main thread) only sets ``flag[0]``; the
    epoch loop checks it between epochs.  A second Ctrl-C interrupts at once (the usual
    handler is back after the first).  Outside the main thread, or where the program has
    its own SIGINT handler, nothing changes."""
    flag = [False]
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield flag
        return

    def defer(signum, frame) -> None:
        flag[0] = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        logger.warning("interrupt: training stops after the current epoch "
                       "(press Ctrl-C again to stop at once)")

    signal.signal(signal.SIGINT, defer)
    try:
        yield flag
    finally:
        if signal.getsignal(signal.SIGINT) is defer:
            signal.signal(signal.SIGINT, signal.default_int_handler)


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
    higher_is_better: bool = False,
    callback: Callable | None = None,
    model=None,
    progress: bool = False,
    desc: str = "fastmf",
    sync: Callable[[], None] | None = None,
) -> int | None:
    """Call ``step(epoch)`` for epochs 1..``epochs``, recording into ``history``.

    ``history["loss"]`` receives each epoch's training loss and, with ``evaluate``, every
    validation metric it returns gets a list of its own.  With ``patience``, training
    stops once ``history[monitor]`` (lower is better, or higher with
    ``higher_is_better``) has not improved for that many epochs, and ``arrays`` (the
    model's parameters, updated in place by ``step``) are restored to the best epoch's
    values.  ``callback(epoch, model, metrics)`` returning
    ``False`` stops training after that epoch.  Returns the best epoch when early stopping
    is on, else None.

    ``sync``, if given, brings ``arrays`` up to date with the solver's state (a solver
    may train a working copy): it is called after every epoch when validation, early
    stopping or a callback reads the model, and once when training ends, however it ends.

    Ctrl-C takes effect between epochs (see :func:`_deferred_sigint`): training stops
    after the current epoch and :class:`Interrupted` is raised, with ``arrays`` and
    ``history`` holding the same epochs (no early-stopping restore).  So is a
    ``KeyboardInterrupt`` raised between epochs (by the callback, say).  One raised while
    ``step``, ``evaluate`` or ``sync`` runs propagates as it is: the arrays may then hold
    part of an epoch, or an epoch the history does not record.
    """
    try:
        with _deferred_sigint() as interrupted:
            best_epoch, best_arrays = _loop(
                step, epochs, interrupted, history=history, arrays=arrays, evaluate=evaluate,
                monitor=monitor, patience=patience, higher_is_better=higher_is_better,
                callback=callback, model=model, progress=progress, desc=desc, sync=sync)
        if interrupted[0]:          # also a Ctrl-C after the last epoch's check
            raise Interrupted
    except KeyboardInterrupt as exc:
        if isinstance(exc, Interrupted) or getattr(exc, "_fastmf_in_step", False):
            raise
        raise Interrupted from exc
    if best_arrays is not None:
        for target, saved in zip(arrays, best_arrays, strict=True):
            target[...] = saved
    return best_epoch


def _loop(step, epochs: int, interrupted: list, *, history, arrays, evaluate, monitor,
          patience, higher_is_better: bool, callback, model, progress: bool, desc: str,
          sync) -> tuple:
    """The epochs themselves (arguments as for :func:`run_epochs`); returns
    ``(best_epoch, best_arrays)``, or ``(None, None)`` once ``interrupted[0]`` is set."""
    best_score, best_epoch, best_arrays, waited = np.inf, None, None, 0
    sign = -1.0 if higher_is_better else 1.0     # best_score is the lowest sign * metric
    bar = _Progress(epochs, progress, desc)
    reads_model = evaluate is not None or callback is not None or patience is not None
    try:
        for epoch in range(1, epochs + 1):
            try:
                metrics = {"loss": step(epoch)}
                if sync is not None and reads_model:
                    sync()
                if evaluate is not None:
                    metrics.update(evaluate())
            except KeyboardInterrupt as exc:
                _mark_in_step(exc)
                raise
            for name, value in metrics.items():
                history.setdefault(name, []).append(value)
            bar.update(metrics)
            logger.debug("epoch %d/%d: %s", epoch, epochs,
                        ", ".join(f"{k} {v:.6g}" for k, v in metrics.items()))
            if patience is not None:
                if sign * metrics[monitor] < best_score:
                    best_score, best_epoch, waited = sign * metrics[monitor], epoch, 0
                    best_arrays = [a.copy() for a in arrays]
                else:
                    waited += 1
            if callback is not None and callback(epoch, model, dict(metrics)) is False:
                break
            if interrupted[0]:
                logger.debug("interrupted after epoch %d", epoch)
                return None, None
            if patience is not None and waited >= patience:
                logger.debug("early stopping after epoch %d; best epoch %d", epoch, best_epoch)
                break
    finally:
        bar.close()
        if sync is not None:
            try:
                sync()
            except KeyboardInterrupt as exc:
                _mark_in_step(exc)
                raise
    return best_epoch, best_arrays


def _mark_in_step(exc: KeyboardInterrupt) -> None:
    """Mark an interrupt that came while ``step``, ``evaluate`` or ``sync`` ran: the arrays
    may hold part of an epoch, or one the history lacks, so it must not be turned into
    :class:`Interrupted` (whose arrays get published)."""
    exc._fastmf_in_step = True
