"""What a search leaves behind: ``best/``, ``best.yaml``, the trials table, Optuna's plots, a card section."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState

from hubtune.atomic import atomic_directory, atomic_write_json, atomic_write_text
from hubtune.redact import redact
from hubtune.search.study import shown_url

log = logging.getLogger(__name__)
SKIP_IN_BEST = {"checkpoints", "runs"}


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per trial: number, state, value, epochs reported, seconds, params, error."""
    params = list(dict.fromkeys(k for t in study.trials for k in t.params))
    rows = []
    for t in study.trials:
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
        row = {"number": t.number, "state": t.state.name.lower(), "value": t.value,
               "epochs": len(t.intermediate_values), "seconds": None if seconds is None else round(seconds, 1)}
        row.update({k: t.params.get(k) for k in params})
        row["note"] = t.user_attrs.get("error") or t.user_attrs.get("origin") or ""
        rows.append(row)
    return rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


def to_markdown(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no trials)\n"

    def cell(v: Any) -> str:
        text = "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)
        return text.replace("|", "\\|").replace("\n", " ")[:120]

    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _lock(folder: Path) -> Iterator[None]:
    """Workers sharing an output folder write the report one at a time."""
    with open(folder / ".report.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_report(search: Any, study: optuna.Study, url: str) -> dict[str, Any]:
    """Tables, plots and (when a trial completed) ``best/`` + ``best.yaml``; pushes ``best/`` when asked."""
    out = search.output_dir
    rows = trial_rows(study)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    best = study.best_trial if complete else None
    summary: dict[str, Any] = {
        "study": study.study_name, "storage": shown_url(url), "metric": search.metric, "direction": search.direction,
        "trials": len(rows), "states": {s: sum(r["state"] == s for r in rows) for s in {r["state"] for r in rows}},
        "best": None if best is None else {"number": best.number, "value": best.value, "params": best.params,
                                           "folder": best.user_attrs.get("folder")},
    }
    with _lock(out):
        atomic_write_text(out / "trials.csv", to_csv(rows))
        atomic_write_text(out / "trials.md", to_markdown(rows))
        summary["plots"] = _plots(study, out)
        if best is not None:
            _best(search, best, rows)
        atomic_write_json(out / "search.json", redact(summary))
    print(to_markdown(rows), end="", flush=True)
    if best is None:
        print("no trial completed: see the logs in " + str(out / "trials"), flush=True)
        return summary
    print(f"best: trial {best.number} {search.metric}={best.value:.4f}; artifacts in {out / 'best'}, recipe "
          f"{out / 'best.yaml'}", flush=True)
    hub = search.recipe.hub
    if hub.push:
        from hubtune.hub import push

        summary["pushed"] = str(push(out / "best", hub.repo_id, hub=hub.endpoint, private=hub.private,
                                     branch=hub.branch, message=hub.message or f"hubtune search: trial {best.number}"))
        print(f"pushed {summary['pushed']}", flush=True)
    return summary


def _best(search: Any, best: optuna.trial.FrozenTrial, rows: list[dict[str, Any]]) -> None:
    header = (f"# hubtune search: best of {len(rows)} trial(s) of study {search.study_name!r}, trial {best.number}, "
              f"validation {search.metric}={best.value:.4f}\n# run it again with: hubtune train best.yaml\n")
    publish_best(search.output_dir, Path(best.user_attrs["folder"]), search.recipe.hub.model_dump(mode="json"),
                 header, _card_section(search, best, rows))


def publish_best(out: Path, folder: Path, hub: dict[str, Any], header: str, card_section: str) -> None:
    """Copy a run's artifacts (not its checkpoints) to ``out/best`` with ``card_section`` added to its card,
    and write its recipe (the run's ``folder.yaml``) as ``out/best.yaml`` with the original ``hub`` block."""
    with atomic_directory(out / "best", overwrite=True) as tmp:
        for item in folder.iterdir():
            if item.name in SKIP_IN_BEST:
                continue
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, tmp / item.name)
        card = tmp / "README.md"
        if card.exists():
            card.write_text(card.read_text() + card_section)
    recipe = yaml.safe_load(folder.with_suffix(".yaml").read_text())
    recipe["output_dir"] = str(out / "retrain")
    recipe["hub"] = hub
    atomic_write_text(out / "best.yaml", header + yaml.safe_dump(redact(recipe), sort_keys=False))


def _card_section(search: Any, best: optuna.trial.FrozenTrial, rows: list[dict[str, Any]]) -> str:
    shown = ", ".join(f"`{k}` = {v:.4g}" if isinstance(v, float) else f"`{k}` = {v}" for k, v in best.params.items())
    return (f"\n\n## Hyperparameter search\n\nChosen by `hubtune search` (Optuna) among {len(rows)} trial(s), each "
            f"scored by the validation {search.metric} of its best epoch ({search.direction}). This is trial "
            f"{best.number}: {shown}.\n\n" + to_markdown(rows))


def _plots(study: optuna.Study, out: Path) -> dict[str, str]:
    """Optimisation history and parameter importances as PNG (matplotlib backend of optuna.visualization)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    made = {}
    for name, plot in (("optimization_history.png", ovm.plot_optimization_history),
                       ("param_importances.png", ovm.plot_param_importances)):
        try:
            ax = plot(study)
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(7, 4.5)
            fig.tight_layout()
            tmp = out / f".{name}.tmp.png"
            fig.savefig(tmp, dpi=100)
            tmp.replace(out / name)
            made[name] = "ok"
        except Exception as e:
            made[name] = f"skipped: {type(e).__name__}: {str(e)[:200]}"
            log.info("%s not drawn: %s", name, e)
        finally:
            plt.close("all")
    return made
