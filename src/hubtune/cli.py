"""``hubtune`` command line: train | eval | predict | recipes | push | pull | hub serve | rank | discrepancy.

User errors (bad recipe, data, checkpoint, hub) print one clear message and exit with 2.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from hubtune.errors import UserError
from hubtune.version import __version__

# Modules that add their own subcommands (``add_commands(subparsers)``).
COMMAND_MODULES = ("hubtune.hub.cli", "hubtune.analysis.cli", "hubtune.search.cli", "hubtune.privacy_audit",
                   "hubtune.compact.cli")


def _train(args: argparse.Namespace) -> int:
    from hubtune import api

    api.train(args.recipe, args.overrides, overwrite=args.overwrite, resume=args.resume,
              push=True if args.push else None)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from hubtune import api

    metrics = api.evaluate(args.output_dir, args.split, args.overrides, task=args.task)
    print("  ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hubtune import api
    from hubtune.inference import is_dense

    if args.out is not None or args.threshold is not None or is_dense(Path(args.output_dir)):
        out = args.out or "predictions"
        for row in api.predict_masks(args.output_dir, args.inputs, out, args.threshold or 0.0):
            print(f"{row['image']}\t{out}/{row['overlay']}\t{row['summary']}")
        print(f"predictions: {out}/predictions.json")
        return 0
    ranked_all = api.predict(args.output_dir, args.inputs, top_k=args.top_k, task=args.task)
    for item, ranked in zip(args.inputs, ranked_all, strict=True):
        shown = ", ".join(f"{label} ({p:.3f})" for label, p in ranked)
        print(f"{item}\t{shown}")
    return 0


def _recipes(args: argparse.Namespace) -> int:
    from hubtune import recipes_cli

    return recipes_cli.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hubtune", description="Transfer learning recipes for the HF ecosystem.")
    parser.add_argument("--version", action="version", version=f"hubtune {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="fine-tune a pretrained checkpoint as a recipe says")
    p.add_argument("recipe", help="recipe YAML file")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="override recipe keys, e.g. train.lr=3e-4")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--resume", nargs="?", const="latest", default=None, metavar="CHECKPOINT",
                   help="continue from the latest checkpoint of the output folder, or from CHECKPOINT")
    p.add_argument("--push", action="store_true", help="push to the hub at the end (as hub.push: true)")
    p.set_defaults(func=_train)

    p = sub.add_parser("eval", help="evaluate a trained output folder on a split")
    p.add_argument("output_dir")
    p.add_argument("--split", default="test", help="train | validation | test (default: test)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="override the saved recipe, e.g. data.test=...")
    p.add_argument("--task", default=None, help="multi-task folders: the task to evaluate (default: every task)")
    p.set_defaults(func=_eval)

    p = sub.add_parser("predict", help="predict image or audio files, or texts, with a trained output folder")
    p.add_argument("output_dir")
    p.add_argument("inputs", nargs="+", help="image files (vision models), audio files (audio models) or texts (text models)")
    p.add_argument("--top-k", type=int, default=1)
    p.add_argument("--out", default=None, help="dense models: folder for overlay PNGs, masks and predictions.json "
                   "(default: predictions)")
    p.add_argument("--threshold", type=float, default=None, help="dense models: pixels scoring below it stay unlabelled")
    p.add_argument("--task", default=None, help="multi-task folders: the task whose head predicts")
    p.set_defaults(func=_predict)

    p = sub.add_parser("recipes", help="list, show or validate recipes")
    rsub = p.add_subparsers(dest="recipes_command", required=True)
    rsub.add_parser("list", help="the recipes that ship with hubtune")
    show = rsub.add_parser("show", help="print a recipe (resolved, with defaults)")
    show.add_argument("name")
    val = rsub.add_parser("validate", help="validate recipe files or folders (recursively)")
    val.add_argument("paths", nargs="*", default=[])
    p.set_defaults(func=_recipes)

    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``, taking ``key=value`` overrides anywhere (``train r.yaml --overwrite train.epochs=1``)."""
    args, extra = parser.parse_known_args(argv)
    overrides = [a for a in extra if "=" in a and not a.startswith("-")]
    rest = [a for a in extra if a not in overrides]
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if overrides:
        if not hasattr(args, "overrides"):
            parser.error(f"{args.command} takes no key=value overrides: {' '.join(overrides)}")
        args.overrides = [*args.overrides, *overrides]
    return args


def _setup_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("hubtune").setLevel(level)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    datasets.logging.set_verbosity_error()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"hubtune: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyError as e:  # registry lookups outside recipe validation
        if e.args and isinstance(e.args[0], str) and e.args[0].startswith("unknown "):
            print(f"hubtune: error: {e.args[0]}", file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:
        print("hubtune: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        from hubtune.errors import disk_full

        print(f"hubtune: error: {disk_full(e)}", file=sys.stderr)
        return 2
    except Exception as e:
        from hubtune.training.trainer import Interrupted

        if isinstance(e, Interrupted):
            print(f"hubtune: {e}", file=sys.stderr)
            return e.exit_code
        raise


if __name__ == "__main__":
    raise SystemExit(main())
