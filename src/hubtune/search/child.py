"""The hook a trial's ``hubtune train`` process runs after each epoch (``HUBTUNE_EPOCH_HOOK``).

A trial is a normal ``hubtune train`` run; the search worker sets ``HUBTUNE_EPOCH_HOOK`` to
:func:`pruning_hook`, which reports each validation result to the study (read from the storage,
the trial id from the environment) and ends the process with :data:`PRUNED_EXIT` when the
pruner says so. It also ties the process to its worker (``PR_SET_PDEATHSIG``): a killed search
leaves no orphan training.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

PRUNED_EXIT = 77
PRUNED_MARK = ".pruned"  # written into the trial folder before exiting: a multi-process launcher has its own code
ENV_PREFIX = "HUBTUNE_SEARCH_"
HOOK = "hubtune.search.child:pruning_hook"


def _die_with_parent() -> None:
    parent = os.environ.get(ENV_PREFIX + "PARENT")
    if parent is None:
        return
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the worker kills its children itself when it can
        return
    if os.getppid() != int(parent):
        os._exit(1)  # the worker died before the line above took effect


def pruning_hook() -> Callable[[int, dict[str, float]], None] | None:
    """The epoch hook of a trial; None outside a search trial (e.g. ``hubtune select``'s fine-tunes)."""
    _die_with_parent()
    env = os.environ
    if ENV_PREFIX + "TRIAL_ID" not in env:
        return None
    import optuna

    from hubtune.search.study import make_pruner, make_storage
    from hubtune.search_schema import PrunerConfig

    metric = env[ENV_PREFIX + "METRIC"]
    pruner_cfg = json.loads(env[ENV_PREFIX + "PRUNER"])
    epochs = int(pruner_cfg.pop("epochs"))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=env[ENV_PREFIX + "STUDY"], storage=make_storage(env[ENV_PREFIX + "STORAGE"], 0),
                              pruner=make_pruner(PrunerConfig.model_validate(pruner_cfg), epochs))
    trial = optuna.trial.Trial(study, int(env[ENV_PREFIX + "TRIAL_ID"]))

    def hook(epoch: int, metrics: dict[str, float]) -> None:
        if metric not in metrics:
            return
        trial.report(float(metrics[metric]), epoch)
        if trial.should_prune():
            print(f"pruned after epoch {epoch}: {metric}={metrics[metric]:.4f}", flush=True)
            folder = env.get(ENV_PREFIX + "FOLDER")
            if folder:
                Path(folder, PRUNED_MARK).touch()
            raise SystemExit(PRUNED_EXIT)

    return hook
