"""``hubtune audit-privacy OUTPUT_DIR``: a loss-threshold membership-inference attack on a trained model.

Members are the run's own training examples (rebuilt from its saved recipe, without
augmentation), non-members held-out examples of the same distribution (the test split when
the recipe has one, else validation); the two sets are subsampled to the same size. The
attack scores each example by minus its loss (Yeom et al. 2018): the AUC of that score and
its TPR at 1 % FPR say how well membership can be guessed (0.5 AUC: not at all).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hubtune.errors import DataError

REPORT = "privacy_audit.json"
ROC_IMAGE = "privacy_audit_roc.png"


@torch.no_grad()
def example_losses(model: Any, dataset: Any, collate: Any, batch_size: int) -> np.ndarray:
    """The head's loss of each example of ``dataset`` (model in eval mode)."""
    from torch.utils.data import DataLoader

    model.eval()
    device = next(model.parameters()).device
    out = []
    for batch in DataLoader(dataset, batch_size=batch_size, collate_fn=collate):
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        logits, labels = model(batch).float(), batch["labels"]
        out += [float(model.head_spec.loss(logits[i:i + 1], labels[i:i + 1])) for i in range(len(labels))]
    return np.asarray(out, dtype=np.float64)


def attack_metrics(member_losses: np.ndarray, nonmember_losses: np.ndarray) -> dict[str, Any]:
    """AUC and TPR at 1 % / 10 % FPR of the score −loss, members as positives; plus the ROC points."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.r_[np.ones(len(member_losses)), np.zeros(len(nonmember_losses))]
    score = -np.r_[member_losses, nonmember_losses]
    fpr, tpr, _ = roc_curve(y, score)
    return {
        "auc": float(roc_auc_score(y, score)),
        "tpr_at_1pct_fpr": float(tpr[fpr <= 0.01].max(initial=0.0)),
        "tpr_at_10pct_fpr": float(tpr[fpr <= 0.10].max(initial=0.0)),
        "members": len(member_losses), "nonmembers": len(nonmember_losses),
        "member_loss_mean": float(member_losses.mean()), "nonmember_loss_mean": float(nonmember_losses.mean()),
        "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
    }


def save_roc(path: Path, report: dict[str, Any], title: str) -> None:
    """The attack's ROC curve against chance, as a PNG (written atomically)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from hubtune.atomic import atomic_write_with

    fig = Figure(figsize=(4.5, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(report["roc"]["fpr"], report["roc"]["tpr"], label=f"loss attack (AUC {report['auc']:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right")
    atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))


def _subsample(dataset: Any, n: int, seed: int) -> Any:
    idx = np.random.default_rng(seed).permutation(len(dataset))[:n]
    return dataset.select(sorted(idx.tolist())) if hasattr(dataset, "select") else torch.utils.data.Subset(dataset, idx)


def audit_privacy(folder: str | Path, split: str | None = None, max_samples: int | None = None,
                  out: str | Path | None = None, seed: int = 0) -> dict[str, Any]:
    """Run the attack on the model in ``folder``; writes the report and ROC PNG (to ``out`` or ``folder``)."""
    from hubtune.data import build_data
    from hubtune.export import load_exported
    from hubtune.validation import load_recipe

    folder = Path(folder)
    if not (folder / "recipe.yaml").exists():
        raise DataError(f"{folder} has no recipe.yaml: pass the output folder of a finished hubtune train")
    recipe = load_recipe(folder / "recipe.yaml")
    model = load_exported(folder)
    split = split or ("test" if recipe.data.test else "validation")
    data = build_data(recipe.data, model.preprocessing, model.head_spec, seed=recipe.seed,
                      splits=("train", split), train_transforms=False)
    held_out = {"validation": data.validation, "test": data.test}.get(split)
    if held_out is None or split == "train":
        raise DataError(f"--split {split!r}: no held-out split of that name in {folder / 'recipe.yaml'}; "
                        "use validation or test (set data.test in the recipe)")
    n = min(len(data.train), len(held_out), max_samples or 10**9)
    batch = recipe.train.eval_batch_size or recipe.train.batch_size
    members = example_losses(model, _subsample(data.train, n, seed), data.collate_fn, batch)
    nonmembers = example_losses(model, _subsample(held_out, n, seed + 1), data.collate_fn, batch)
    report = {"output_dir": str(folder), "nonmember_split": split, **attack_metrics(members, nonmembers)}
    metrics = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").exists() else {}
    report["privacy"] = {k: v for k, v in (metrics.get("privacy") or {}).items() if k != "accountant_history"}
    target = Path(out) if out else folder
    target.mkdir(parents=True, exist_ok=True)
    from hubtune.atomic import atomic_write_json

    atomic_write_json(target / REPORT, report)
    eps = report["privacy"].get("epsilon")
    save_roc(target / ROC_IMAGE, report, f"membership inference ({f'ε = {eps:.3g}' if eps else 'non-private'})")
    return report


def _run(args: argparse.Namespace) -> int:
    report = audit_privacy(args.output_dir, args.split, args.max_samples, args.out)
    eps = report["privacy"].get("epsilon")
    print(f"membership inference (loss threshold), {report['members']} members vs {report['nonmembers']} "
          f"{report['nonmember_split']} examples; model ε = {eps if eps is not None else 'none (non-private)'}")
    print(f"AUC={report['auc']:.4f}  TPR@1%FPR={report['tpr_at_1pct_fpr']:.4f}  "
          f"TPR@10%FPR={report['tpr_at_10pct_fpr']:.4f}")
    print(f"report: {Path(args.out or args.output_dir) / REPORT}")
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("audit-privacy", help="membership-inference audit of a trained output folder")
    p.add_argument("output_dir")
    p.add_argument("--split", default=None, help="held-out split for non-members (default: test, else validation)")
    p.add_argument("--max-samples", type=int, default=None, help="at most this many members and non-members each")
    p.add_argument("--out", default=None, help="folder for privacy_audit.json and the ROC PNG (default: OUTPUT_DIR)")
    p.set_defaults(func=_run)
