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
from pathlib import Path

from hubtune import __version__
from hubtune.errors import UserError

# Command modules that add their own subcommands (``add_commands(subparsers)``), if present.
PLUGIN_COMMANDS = ("hubtune.hub.cli", "hubtune.adaptation.cli")


def _train(args: argparse.Namespace) -> int:
    from hubtune.recipe import load_recipe
    from hubtune.run import train

    recipe = load_recipe(args.recipe, args.overrides)
    resume = args.resume if args.resume is not None else None
    train(recipe, overwrite=args.overwrite, resume=resume, push=True if args.push else None)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from hubtune.inference import evaluate_output

    metrics = evaluate_output(Path(args.output_dir), args.split, args.overrides)
    print("  ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from hubtune.inference import predict

    for item, ranked in zip(args.inputs, predict(Path(args.output_dir), args.inputs, top_k=args.top_k), strict=True):
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
    p.set_defaults(func=_eval)

    p = sub.add_parser("predict", help="predict image files or texts with a trained output folder")
    p.add_argument("output_dir")
    p.add_argument("inputs", nargs="+", help="image files (vision models) or texts (text models)")
    p.add_argument("--top-k", type=int, default=1)
    p.set_defaults(func=_predict)

    p = sub.add_parser("recipes", help="list, show or validate recipes")
    rsub = p.add_subparsers(dest="recipes_command", required=True)
    rsub.add_parser("list", help="the recipes that ship with hubtune")
    show = rsub.add_parser("show", help="print a recipe (resolved, with defaults)")
    show.add_argument("name")
    val = rsub.add_parser("validate", help="validate recipe files or folders (recursively)")
    val.add_argument("paths", nargs="*", default=[])
    p.set_defaults(func=_recipes)

    for name in PLUGIN_COMMANDS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        module.add_commands(sub)
    return parser


def _setup_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("hubtune").setLevel(level)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import datasets
        import transformers

        transformers.logging.set_verbosity_error()
        datasets.logging.set_verbosity_error()
    except ImportError:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
