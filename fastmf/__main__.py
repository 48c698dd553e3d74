"""Command line: ``fastmf demo|fit|evaluate|recommend|similar|config`` (or ``python -m
fastmf``).

Mistakes (a missing or damaged file, a bad value, a fit that diverges) are reported as
one line on stderr with exit status 1 (argparse's usage errors: status 2; Ctrl-C: 130),
never as a traceback.  Warnings are one line too.  The commands themselves are in
:mod:`fastmf._commands`; this module holds the parsers (every option says its default)
and the error handling."""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from . import _commands
from ._commands import CLIError
from ._version import __version__

# What a user's mistake can raise: bad values and files (ValueError, including
# fastmf.ModelFileError; TypeError; KeyError for an id a model does not hold), the file
# system (OSError), a fit that diverges or a singular ALS system (FloatingPointError),
# a request too large for memory.
_USER_ERRORS = (ValueError, TypeError, KeyError, OSError, FloatingPointError, MemoryError)

_KINDS = {"sgd": "SGD", "sgd-logistic": "logistic SGD", "sgd-bpr": "BPR SGD",
          "sgd-softmax": "softmax SGD", "sgd-warp": "WARP SGD", "als-explicit": "explicit ALS",
          "als-implicit": "implicit ALS", "als-logistic": "logistic ALS"}


def _auto(name: str, kinds: tuple[str, ...] = tuple(_KINDS)) -> str:
    """What None stands for in the estimator's parameter ``name``, by kind of fit."""
    from ._params import DEFAULTS

    values: dict[Any, list[str]] = {}
    for kind in kinds:
        if name in DEFAULTS[kind]:
            values.setdefault(DEFAULTS[kind][name], []).append(_KINDS[kind])
    if len(values) == 1:
        return str(next(iter(values)))
    return "; ".join(f"{value} for {', '.join(who)}" for value, who in values.items())


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (status 2) like every other error."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} "
                     f"(see {self.prog} --help)\n")


def _option(parser: argparse.ArgumentParser, *names: str, help: str, default: Any = None,
            auto: str | None = None, **kwargs: Any) -> None:
    """An option whose help ends with its default (``auto`` says what None means)."""
    shown = auto if default is None and auto is not None else default
    if default is None and auto is None:
        shown = "none"
    if isinstance(shown, int) and not isinstance(shown, bool) and shown >= 10_000:
        shown = f"{shown:,}"
    parser.add_argument(*names, default=default, help=f"{help} (default: {shown})",
                        **kwargs)


def _model_options(p: argparse.ArgumentParser) -> None:
    """The estimator's parameters that `fit` and `demo` share."""
    _option(p, "--factors", type=int, default=32, help="number of latent factors")
    _option(p, "--epochs", type=int, default=20, help="epochs (SGD) or sweeps (ALS)")
    _option(p, "--learning-rate", type=float,
            auto=_auto("learning_rate",
                       ("sgd", "sgd-logistic", "sgd-bpr", "sgd-softmax", "sgd-warp")),
            help="SGD step size")
    _option(p, "--l2", type=float, auto=_auto("l2"),
            help="weight decay of the factors (ALS with --weighted-l2: per rating)")
    _option(p, "--weighted-l2", action=argparse.BooleanOptionalAction,
            auto=_auto("weighted_l2", ("als-explicit", "als-implicit", "als-logistic")),
            help="ALS: scale each row's l2 by its number of ratings (ALS-WR)")
    _option(p, "--init-scale", type=float, auto=_auto("init_scale"),
            help="standard deviation of the initial factors")
    _option(p, "--threads", type=int, auto="OMP_NUM_THREADS, or all cores",
            help="OpenMP threads")
    _option(p, "--seed", type=int, default=0, help="random seed")


def _raw_ids_option(p: argparse.ArgumentParser) -> None:
    _option(p, "--raw-ids", action=argparse.BooleanOptionalAction, default=True,
            help="ids on the command line and in files are the raw ids the model was "
                 "fitted on (the files' ids); --no-raw-ids reads them as row indices, "
                 "for a model fitted on row indices from Python")


def demo_parser() -> _Parser:
    p = _Parser(prog="fastmf demo",
                description="Fit biased matrix factorisation by SGD, at the estimator's "
                            "defaults, on synthetic ratings (or a MovieLens file), and "
                            "report accuracy and throughput.")
    _option(p, "path", nargs="?", auto="synthetic data",
            help="MovieLens file: u.data (or u1.base ...), ratings.dat, ratings.csv")
    _option(p, "--ratings", type=int, default=1_000_000,
            help="synthetic ratings, over ratings/50 users and ratings/200 items "
                 f"(at least {_commands.DEMO_MIN_RATINGS:,})")
    _model_options(p)
    return p


def _parser() -> _Parser:
    parser = _Parser(
        prog="fastmf", description="Fast matrix factorisation (also: python -m fastmf).")
    parser.add_argument("--version", action="version", version=f"fastmf {__version__}",
                        help="show fastmf's version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    sub.add_parser("demo", add_help=False,
                   help="fit on synthetic ratings (or a MovieLens file), report speed")

    p = sub.add_parser("fit", help="fit a model to a ratings file and save it")
    p.add_argument("data", help="MovieLens-style ratings file (u.data, ratings.dat, "
                   "ratings.csv)")
    _option(p, "-o", "--output", default="model.npz", help="model file to write")
    _option(p, "--solver", choices=["sgd", "als"], default="sgd", help="optimiser")
    _option(p, "--loss", choices=["squared", "logistic", "bpr", "softmax", "warp"],
            default="squared",
            help="squared: ratings; logistic: ratings >= --threshold are positives; "
            "bpr, softmax, warp: rank interactions (--feedback implicit)")
    _option(p, "--feedback", choices=["explicit", "implicit"], default="explicit",
            help="implicit: every rating is an interaction (--solver als, or a ranking "
            "--loss)")
    _model_options(p)
    _option(p, "--alpha", type=float, auto=_auto("alpha", ("als-implicit",)),
            help="implicit feedback: confidence 1 + alpha * value")
    _option(p, "--threshold", type=float, default=4.0,
            help="logistic loss: ratings >= threshold are positives")
    _option(p, "--linear-solver", choices=["cholesky", "cg", "subspace"],
            auto="cg for implicit feedback, else cholesky",
            help="ALS: how each row's system is solved (subspace: block by block, the "
                 "cheapest at large --factors)")
    _option(p, "--block-size", type=int, default=16,
            help="ALS --linear-solver subspace: coordinates per block")
    _option(p, "--l2-exponent", type=float, default=1.0,
            help="ALS --weighted-l2: the penalty is l2 * count ** exponent")
    _option(p, "--negatives", type=int, auto="256 (softmax), 10 (warp)",
            help="softmax: negatives per user and block; warp: most draws per positive")
    _option(p, "--temperature", type=float, default=0.1,
            help="softmax: temperature of the cosine scores")
    p.set_defaults(run=_commands.fit)

    p = sub.add_parser("evaluate", help="score a saved model on a held-out ratings file")
    p.add_argument("model", help="model file written by `fastmf fit`")
    p.add_argument("test", help="ratings file in the same format as the training data")
    _option(p, "--train", metavar="RATINGS",
            help="implicit and logistic models: the training ratings, left out of each "
                 "user's ranking")
    _option(p, "-k", type=int, default=10, help="ranking metrics: length of the list")
    _option(p, "--threshold", type=float, default=4.0,
            help="logistic models: ratings >= threshold are positives")
    _raw_ids_option(p)
    p.set_defaults(run=_commands.evaluate)

    p = sub.add_parser("recommend", help="top items for one user of a saved model")
    p.add_argument("model", help="model file written by `fastmf fit`")
    p.add_argument("--user", required=True,
                   help="the user, by id (see --raw-ids); required")
    _option(p, "-n", type=int, default=10, help="number of items")
    _option(p, "--exclude", metavar="RATINGS",
            help="ratings file (typically the training data) whose items this user "
                 "rated are not recommended")
    _raw_ids_option(p)
    p.set_defaults(run=_commands.recommend)

    p = sub.add_parser("similar", help="items most similar to one item of a saved model")
    p.add_argument("model", help="model file written by `fastmf fit`")
    p.add_argument("--item", required=True,
                   help="the item, by id (see --raw-ids); required")
    _option(p, "-n", type=int, default=10, help="number of items")
    _raw_ids_option(p)
    p.set_defaults(run=_commands.similar)

    p = sub.add_parser("config", help="how fastmf was built (OpenMP, SIMD, BLAS)")
    p.set_defaults(run=_commands.config)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        text = " ".join(str(exc.args[0]).split())
    return text or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["demo"]:
        command, run = "demo", lambda: _commands.demo(demo_parser().parse_args(argv[1:]))
    else:
        args = _parser().parse_args(argv)
        command, run = args.command, lambda: args.run(args)

    def show_warning(message: Any, category: Any, filename: Any, lineno: Any,
                     file: Any = None, line: Any = None) -> None:
        print(f"fastmf {command}: warning: {_one_line(message)}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        try:
            return int(run())
        except (CLIError, *_USER_ERRORS) as exc:
            print(f"fastmf {command}: error: {_one_line(exc)}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"fastmf {command}: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
