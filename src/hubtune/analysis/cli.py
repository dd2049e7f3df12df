"""``hubtune discrepancy`` and ``hubtune rank`` (picked up by ``hubtune.cli.PLUGIN_COMMANDS``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from hubtune.analysis.ranking import rank_candidates

DATA_HELP = ("DATA: FORMAT:PATH[:SPLIT] (jsonl:../shared/data/amazon/books.jsonl, imagefolder:DIR:val), "
             "FORMAT:NAME[:SPLIT] for built-ins (digits_shift:mnist, digits_shift:usps:test, digits, mnist:test), "
             "or RECIPE.yaml[:SPLIT] (its data: block)")
MODEL_HELP = ("MODEL: timm:NAME, transformers:NAME_OR_DIR, pypi:<package> (transformers), custom:module:function, "
              "or a hubtune output folder (its head gives LEEP/NCE the source probabilities)")


def add_commands(sub: Any) -> None:
    """Add ``discrepancy`` and ``rank`` to the ``hubtune`` subcommands."""
    p = sub.add_parser("discrepancy", help="domain discrepancy (MMD, proxy A-distance, CORAL) of two data sets",
                       description=f"{MODEL_HELP}. {DATA_HELP}.")
    p.add_argument("--backbone", required=True, metavar="MODEL")
    p.add_argument("--source", required=True, metavar="DATA")
    p.add_argument("--target", required=True, metavar="DATA")
    p.add_argument("--max-samples", type=int, default=1000, help="rows per data set (default 1000)")
    p.add_argument("--plot", choices=["pca", "tsne"], default="pca")
    p.add_argument("--out", default="outputs/discrepancy", help="folder for discrepancy.json and the scatter PNG")
    p.add_argument("--cache", default=None, help="feature cache folder (default ~/.cache/hubtune/features)")
    p.set_defaults(func=_discrepancy)

    p = sub.add_parser("rank", help="rank pretrained candidates for a target task (LogME, LEEP, NCE, H-score)",
                       description=f"{MODEL_HELP}. {DATA_HELP}.")
    p.add_argument("--candidates", nargs="+", required=True, metavar="MODEL")
    p.add_argument("--data", required=True, metavar="DATA", help="the labelled target task")
    p.add_argument("--max-samples", type=int, default=2000)
    p.add_argument("--sort-by", choices=["logme", "leep", "nce", "h_score"], default="logme")
    p.add_argument("--reference", default=None, metavar="JSON",
                   help="a JSON mapping candidate -> fine-tuned accuracy: adds Kendall tau per score")
    p.add_argument("--out", default="outputs/rank", help="folder for rank.json and rank.png")
    p.add_argument("--cache", default=None)
    p.set_defaults(func=_rank)


def _discrepancy(args: argparse.Namespace) -> int:
    from hubtune.adaptation.discrepancy import as_row, discrepancy, scatter_plot
    from hubtune.analysis.features import extract, parse_data

    cache = Path(args.cache) if args.cache else None
    src = extract(args.backbone, parse_data(args.source, args.max_samples), cache=cache).features
    tgt = extract(args.backbone, parse_data(args.target, args.max_samples), cache=cache).features
    perm = np.random.default_rng(0).permutation(len(src))
    results = {"source vs target": discrepancy(src, tgt),
               "control: source halves": discrepancy(src[perm[: len(src) // 2]], src[perm[len(src) // 2:]])}
    out = Path(args.out)
    plot = scatter_plot(src, tgt, out / f"discrepancy_{args.plot}.png", args.plot)
    for name, values in results.items():
        print(as_row(name, values))
    report = {"backbone": args.backbone, "source": args.source, "target": args.target, "results": results,
              "plot": str(plot)}
    (out / "discrepancy.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {out / 'discrepancy.json'} and {plot}")
    return 0


def _rank(args: argparse.Namespace) -> int:
    from hubtune.adaptation.transferability import kendall_tau

    cache = Path(args.cache) if args.cache else None
    rows = rank_candidates(args.candidates, args.data, max_samples=args.max_samples, cache=cache, sort_by=args.sort_by)
    report: dict[str, Any] = {"data": args.data, "sort_by": args.sort_by, "candidates": rows}
    if args.reference:
        ref = json.loads(Path(args.reference).read_text())
        report["reference"] = ref
        report["kendall_tau"] = _taus(rows, ref, kendall_tau)
    _print_table(rows, report.get("kendall_tau"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rank.json").write_text(json.dumps(report, indent=2))
    _bar_chart(rows, out / "rank.png")
    print(f"wrote {out / 'rank.json'} and {out / 'rank.png'}")
    return 0


def _taus(rows: list[dict[str, Any]], ref: dict[str, float], tau: Any) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for score in ("logme", "leep", "nce", "h_score"):
        pairs = [(r[score], ref[r["candidate"]]) for r in rows if r[score] is not None and r["candidate"] in ref]
        out[score] = tau(*zip(*pairs, strict=True)) if len(pairs) >= 2 else None
    return out


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _print_table(rows: list[dict[str, Any]], taus: dict[str, float | None] | None) -> None:
    width = max(len(r["candidate"]) for r in rows) + 2
    print(f"{'candidate':<{width}}{'logme':>10}{'leep':>10}{'nce':>10}{'h_score':>10}")
    for r in rows:
        print(f"{r['candidate']:<{width}}" + "".join(f"{_fmt(r[k]):>10}" for k in ("logme", "leep", "nce", "h_score")))
    if taus:
        print(f"{'Kendall tau':<{width}}" + "".join(f"{_fmt(taus[k]):>10}" for k in ("logme", "leep", "nce", "h_score")))


def _bar_chart(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = [k for k in ("logme", "leep", "nce", "h_score") if any(r[k] is not None for r in rows)]
    fig, axes = plt.subplots(1, len(scores), figsize=(3.2 * len(scores), 3.2), dpi=100, squeeze=False)
    names = [Path(r["candidate"]).name or r["candidate"] for r in rows]
    for ax, score in zip(axes[0], scores, strict=True):
        ax.barh(names, [r[score] if r[score] is not None else 0.0 for r in rows])
        ax.set_title(score)
        ax.invert_yaxis()
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
