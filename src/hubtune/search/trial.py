"""Running one trial: its recipe written next to its folder, a ``hubtune train`` process, its score read back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubtune.atomic import atomic_write_text
from hubtune.search.child import ENV_PREFIX, HOOK, PRUNED_EXIT, PRUNED_MARK
from hubtune.training.trainer import EPOCH_HOOK_ENV


class TrialFailed(RuntimeError):
    """The trial's process failed (crash, out of memory, invalid sampled recipe): recorded, the search goes on."""


class TrialStopped(RuntimeError):
    """The pruner stopped the trial (the child exited with ``PRUNED_EXIT``)."""


@dataclass
class TrialRun:
    """Where a trial lives and how the child finds its study."""

    folder: Path  # OUTPUT/trials/NNN: a normal hubtune output folder
    storage: str
    study: str
    trial_id: int
    metric: str
    pruner: dict[str, Any]
    accelerate_config: str | None = None


def write_recipe(path: Path, recipe: Any) -> None:
    """An ordinary recipe file (secrets masked), written atomically."""
    atomic_write_text(path, recipe.to_yaml())


def run_trial(run: TrialRun, recipe: Any, timeout: float | None = None) -> float:
    """Train ``recipe`` in a child process that reports each epoch to the study; returns its score."""
    env = {ENV_PREFIX + "STORAGE": run.storage, ENV_PREFIX + "STUDY": run.study,
           ENV_PREFIX + "TRIAL_ID": str(run.trial_id), ENV_PREFIX + "PRUNER": json.dumps(run.pruner)}
    return run_child(run.folder, recipe, run.metric, env, timeout, run.accelerate_config)


def run_child(folder: Path, recipe: Any, metric: str, env: dict[str, str] | None = None,
              timeout: float | None = None, accelerate_config: str | None = None) -> float:
    """Train ``recipe`` (its output_dir is ``folder``) in a child process; the score is the validation
    ``metric`` of the model it keeps. The recipe and the log sit next to the folder (``NNN.yaml``, ``NNN.log``).

    With ``accelerate_config`` the child is ``accelerate launch --config_file PATH -m hubtune train``: the
    values were sampled here, in the worker, so every rank trains the same recipe file."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    recipe_file, log_file = folder.with_suffix(".yaml"), folder.with_suffix(".log")
    write_recipe(recipe_file, recipe)
    (folder / PRUNED_MARK).unlink(missing_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {}), ENV_PREFIX + "METRIC": metric,
           ENV_PREFIX + "FOLDER": str(folder), EPOCH_HOOK_ENV: HOOK}
    train = ["-m", "hubtune", "train", str(recipe_file), "--overwrite"]
    if accelerate_config:  # the ranks' parent is the launcher, not this worker: no parent check in the child
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", accelerate_config, *train]
    else:
        env[ENV_PREFIX + "PARENT"] = str(os.getpid())
        cmd = [sys.executable, *train]
    if shutil.which("setpriv"):  # util-linux: the training dies with this worker from its first instruction
        cmd = ["setpriv", "--pdeathsig", "KILL", "--", *cmd]
    with open(log_file, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            code = proc.wait(timeout=timeout)
        except BaseException:  # interrupted or over time: never leave the child training
            proc.kill()
            proc.wait()
            raise
    if code == PRUNED_EXIT or (code != 0 and (folder / PRUNED_MARK).exists()):  # a launcher reports its own code
        raise TrialStopped(f"pruned (see {log_file})")
    if code != 0:
        raise TrialFailed(f"trial process exited with {code}: {log_tail(log_file)}")
    return read_score(folder, metric)


def log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text[-lines:])[-600:]


def read_score(folder: Path, metric: str) -> float:
    """The kept model's validation ``metric`` (the best epoch when ``eval.keep_best``)."""
    try:
        report = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError) as e:
        raise TrialFailed(f"the trial finished without a readable {folder / 'metrics.json'}: {e}") from None
    value = report.get("metrics", {}).get("validation", {}).get(metric, report.get("best_value"))
    if value is None:
        raise TrialFailed(f"{folder / 'metrics.json'} has no validation {metric!r}")
    return float(value)
