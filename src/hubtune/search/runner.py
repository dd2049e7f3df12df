"""``hubtune search RECIPE.yaml``: an Optuna study over recipe keys, one child process per trial.

Every sampled recipe is validated (the space is checked before the first trial), each trial is a
normal hubtune run in ``OUTPUT/trials/NNN/``, the study lives in ``OUTPUT/study.db`` (or
``search.storage``), and running the same command again continues the study.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hubtune.errors import RecipeError
from hubtune.recipe import Recipe
from hubtune.recipe_yaml import read_recipe_data
from hubtune.search import space as sp
from hubtune.search.study import (
    WORKER_ATTR,
    finished_count,
    open_study,
    recover_dead_local,
    shown_url,
    storage_url,
    worker_id,
)
from hubtune.search.trial import TrialFailed, TrialRun, TrialStopped, run_trial
from hubtune.search_schema import SearchConfig

log = logging.getLogger(__name__)


@dataclass
class Search:
    """A loaded search: the base recipe mapping, its validated form and the resolved objective."""

    base: dict[str, Any]
    recipe: Recipe
    cfg: SearchConfig
    output_dir: Path
    metric: str
    direction: str

    @property
    def study_name(self) -> str:
        return self.cfg.study_name or self.recipe.name or self.output_dir.name

    def trial_recipe(self, values: dict[str, Any], folder: Path | None = None) -> Recipe:
        """The ordinary recipe a trial runs: sampled values set, no search, no push, selected on ``metric``."""
        from hubtune.validation import recipe_from_dict

        data = sp.apply(self.base, values)
        data.pop("search", None)
        data["output_dir"] = str(folder or self.output_dir / "trials" / "check")
        sp.set_path(data, "hub.push", False)
        sp.set_path(data, "eval.best_metric", self.metric)
        return recipe_from_dict(data, source="a sampled recipe")


def load_search(path: str, overrides: list[str] | None = None, output_dir: str | None = None) -> Search:
    """Read the recipe, check its ``search:`` block and every corner of the space (exit 2 on any problem)."""
    from hubtune.metrics import greater_is_better
    from hubtune.validation import recipe_from_dict

    base = read_recipe_data(path, overrides)
    recipe = recipe_from_dict(base, source=path)
    if recipe.search is None:
        raise RecipeError("search: missing; add a search: block with a space and a budget (see recipes/search/)",
                          source=path)
    cfg = recipe.search
    if cfg.accelerate_config and not Path(cfg.accelerate_config).is_file():
        raise RecipeError(f"search.accelerate_config: {cfg.accelerate_config} does not exist (an `accelerate config` "
                          "YAML; see recipes/accelerate/)", source=path)
    metric = cfg.metric or recipe.eval.best_metric or recipe.eval.metrics[0]
    direction = cfg.direction or ("maximize" if greater_is_better(metric) else "minimize")
    out = Path(output_dir or recipe.output_dir)
    search = Search(base, recipe, cfg, out, metric, direction)
    for i, values in enumerate(cfg.enqueue):
        sp.stored(cfg.space, values, f"search.enqueue[{i}]")
        search.trial_recipe(values)
    checked = sp.check_space(cfg.space, recipe.to_dict(), search.trial_recipe)
    log.info("search space checked: %d sampled recipe(s) validate", checked)
    return search


def run_search(search: Search) -> dict[str, Any]:
    """Run trials until the budget is spent, then write the report; returns its summary."""
    from hubtune.search.report import write_report

    cfg, out = search.cfg, search.output_dir
    out.mkdir(parents=True, exist_ok=True)
    url = storage_url(cfg, out)
    study = open_study(cfg, url, search.study_name, search.direction, search.recipe.train.epochs)
    recover_dead_local(study, cfg.max_retries)
    base = sp.base_values(cfg.space, search.recipe.to_dict()) if cfg.enqueue_base else None
    if not study.trials:  # a new study: the recipe's own values and the given ones first
        if base is not None:
            study.enqueue_trial(base, user_attrs={"origin": "recipe defaults"}, skip_if_exists=True)
        for i, values in enumerate(cfg.enqueue):
            study.enqueue_trial(sp.stored(cfg.space, values, "search.enqueue"), user_attrs={"origin": f"enqueue[{i}]"},
                                skip_if_exists=True)
    print(f"study {search.study_name!r} in {shown_url(url)}: {len(study.trials)} trial(s) so far; "
          f"optimising validation {search.metric} ({search.direction})", flush=True)
    if cfg.n_trials is None or finished_count(study) < cfg.n_trials:
        _optimize(search, study, url)
    return write_report(search, study, url)


def _optimize(search: Search, study: optuna.Study, url: str) -> None:
    cfg = search.cfg
    failures: list[int] = []
    pruner = {**cfg.pruner.model_dump(), "epochs": search.recipe.train.epochs}

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, worker_id())
        folder = search.output_dir / "trials" / f"{trial.number:03d}"
        values = sp.suggest(trial, cfg.space, search.recipe.to_dict())  # when: sees defaults too
        try:
            recipe = search.trial_recipe(values, folder)
        except RecipeError as e:
            raise TrialFailed(f"the sampled recipe is invalid: {'; '.join(e.problems)}") from None
        trial.set_user_attr("folder", str(folder))
        print(f"trial {trial.number}: " + ", ".join(f"{k}={v}" for k, v in values.items()), flush=True)
        try:
            return run_trial(TrialRun(folder, url, study.study_name, trial._trial_id, search.metric, pruner,
                                      search.cfg.accelerate_config), recipe)
        except TrialStopped:
            raise optuna.TrialPruned() from None
        except TrialFailed as e:
            trial.set_user_attr("error", str(e)[:1000])
            raise

    def stop_when_done(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        state = trial.state.name.lower()
        shown = f" {search.metric}={trial.value:.4f}" if trial.value is not None and state == "complete" else ""
        print(f"trial {trial.number}: {state}{shown}" + (f" ({trial.user_attrs['error']})" if state == "fail"
                                                         and "error" in trial.user_attrs else ""), flush=True)
        if trial.state == TrialState.FAIL:
            failures.append(trial.number)
        if len(failures) >= max(3, cfg.n_trials or 0):
            print(f"stopping: {len(failures)} trials failed in this worker (see OUTPUT/trials/NNN.log)", flush=True)
            study.stop()
        if cfg.n_trials is not None and finished_count(study) >= cfg.n_trials:
            study.stop()

    study.optimize(objective, timeout=cfg.timeout, callbacks=[stop_when_done], catch=(TrialFailed,),
                   gc_after_trial=False, show_progress_bar=False)
