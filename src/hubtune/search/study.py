"""The Optuna study behind a search: storage (SQLite by default), sampler, pruner, dead-worker recovery."""

from __future__ import annotations

import logging
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from hubtune.errors import UserError
from hubtune.search_schema import PrunerConfig, SearchConfig

log = logging.getLogger(__name__)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
HEARTBEAT_S = 10  # a worker on another machine that stops beating for GRACE_S has its trial failed and retried
GRACE_S = 60
WORKER_ATTR = "hubtune_worker"


class SearchError(UserError, RuntimeError):
    """The study cannot be opened or does not fit this recipe."""


def storage_url(cfg: SearchConfig, output_dir: Path) -> str:
    """``search.storage``, or an SQLite file in the output folder."""
    return cfg.storage or f"sqlite:///{(output_dir / 'study.db').resolve()}"


def shown_url(url: str) -> str:
    """The storage URL with any password masked (for logs and reports)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: show only its scheme
        return url.split(":", 1)[0] + ":…"


def make_storage(url: str, max_retries: int) -> RDBStorage:
    """An RDB storage with heartbeats; SQLite waits for locks instead of failing at once."""
    kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(5):  # two workers creating the tables at the same moment: one of them retries
        try:
            return RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                              heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=max_retries))
        except Exception as e:  # SQLAlchemy and driver errors alike
            if attempt == 4 or not _racing(e):
                raise SearchError(f"cannot open the search storage {shown_url(url)}: {type(e).__name__}: "
                                  f"{str(e)[:300]} (check search.storage; install its driver, e.g. "
                                  "`pip install 'psycopg[binary]'` for postgresql://)") from None
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


def _racing(error: Exception) -> bool:
    """An error of two workers initialising one storage at the same moment (tables, version row): retry it."""
    from sqlalchemy.exc import IntegrityError

    text = str(error)
    return isinstance(error, IntegrityError) or any(
        s in text for s in ("already exists", "locked", "UNIQUE constraint", "duplicate key"))


def make_sampler(cfg: SearchConfig) -> optuna.samplers.BaseSampler:
    s = cfg.sampler
    if s.type == "random":
        return optuna.samplers.RandomSampler(seed=s.seed)
    return optuna.samplers.TPESampler(seed=s.seed, n_startup_trials=s.n_startup_trials, multivariate=True,
                                      group=True, constant_liar=True)


def make_pruner(p: PrunerConfig, epochs: int) -> optuna.pruners.BasePruner:
    if p.type == "none":
        return optuna.pruners.NopPruner()
    if p.type == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=p.min_resource, max_resource=max(epochs, p.min_resource),
                                              reduction_factor=p.reduction_factor)
    return optuna.pruners.MedianPruner(n_startup_trials=p.n_startup_trials, n_warmup_steps=p.n_warmup_steps)


def open_study(cfg: SearchConfig, url: str, name: str, direction: str, epochs: int) -> optuna.Study:
    """Create or load the study; refuse one that optimises the other way."""
    storage = make_storage(url, cfg.max_retries)
    study = optuna.create_study(storage=storage, study_name=name, direction=direction, load_if_exists=True,
                                sampler=make_sampler(cfg), pruner=make_pruner(cfg.pruner, epochs))
    if study.direction.name.lower() != direction:
        raise SearchError(f"study {name!r} in {shown_url(url)} is set to {study.direction.name.lower()}, not "
                          f"{direction}: set search.study_name to a new name, or search.direction to match")
    return study


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def recover_dead_local(study: optuna.Study, max_retries: int) -> list[int]:
    """Fail (and queue a retry of) RUNNING trials whose worker process on this machine is gone.

    Workers on other machines are covered by the heartbeat (failed after ``GRACE_S`` s of silence)."""
    host = socket.gethostname()
    failed = []
    retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retries)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        who = trial.user_attrs.get(WORKER_ATTR, "")
        whose_host, _, pid = who.rpartition(":")
        if whose_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        if study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
            retry(study, study._storage.get_trial(trial._trial_id))
            failed.append(trial.number)
    if failed:
        log.warning("trial(s) %s were interrupted (their worker is gone): marked failed and queued again", failed)
    return failed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
