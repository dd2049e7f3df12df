"""``hubtune search`` and ``hubtune select`` (picked up by ``hubtune.cli.PLUGIN_COMMANDS``)."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(sub: Any) -> None:
    """Add ``search`` and ``select`` to the ``hubtune`` subcommands."""
    p = sub.add_parser("search", help="search recipe keys with Optuna (the recipe's search: block)",
                       description="Run the trials of the recipe's search: block, each a hubtune run in "
                                   "OUTPUT/trials/NNN/; running it again continues the study.")
    p.add_argument("recipe", help="recipe YAML file with a search: block")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="override recipe keys (search.n_trials=10)")
    p.add_argument("--output", default=None, help="search folder (default: the recipe's output_dir)")
    p.add_argument("--check", action="store_true", help="only check the space (every corner recipe validates)")
    p.set_defaults(func=_search)

    p = sub.add_parser("select", help="choose the source model: estimators, then short fine-tunes of the top-k",
                       description="Score every candidate with LogME/LEEP/NCE/H-score on the recipe's training data, "
                                   "fine-tune the top-k with a short budget, pick the winner on validation.")
    p.add_argument("recipe", help="the target task's recipe (its backbone is replaced by each candidate)")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.add_argument("--candidates", nargs="+", required=True, metavar="MODEL",
                   help="timm:NAME, transformers:NAME_OR_DIR, pypi:<package>, custom:module:function[JSON kwargs], "
                        "a hubtune output folder or a hub repo id")
    p.add_argument("--top-k", type=int, default=3, help="candidates to fine-tune (default 3)")
    p.add_argument("--score", choices=["logme", "leep", "nce", "h_score"], default="logme",
                   help="estimator that orders the candidates (default logme)")
    p.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default: the recipe's)")
    p.add_argument("--max-samples", type=int, default=2000, help="training rows the estimators see")
    p.add_argument("--output", default=None, help="folder (default: the recipe's output_dir)")
    p.set_defaults(func=_select)


def _search(args: argparse.Namespace) -> int:
    import optuna

    from hubtune.search.runner import load_search, run_search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    search = load_search(args.recipe, args.overrides, args.output)
    if args.check:
        print(f"search space of {args.recipe} is valid")
        return 0
    summary = run_search(search)
    return 0 if summary["best"] is not None else 1


def _select(args: argparse.Namespace) -> int:
    from hubtune.search.select import run_select

    run_select(args.recipe, args.overrides, args.candidates, top_k=args.top_k, score=args.score,
               epochs=args.epochs, max_samples=args.max_samples, output=args.output)
    return 0
