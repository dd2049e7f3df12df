"""``hubtune search`` end to end on scikit-learn digits: each trial a real ``hubtune train`` process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from search_helpers import REPO, digits_recipe, hubtune, states, trials

from hubtune.cli import main


def test_search_beats_a_bad_default_and_leaves_a_usable_best(tmp_path: Path, write_recipe, search_env) -> None:
    out = tmp_path / "search"
    recipe = write_recipe(digits_recipe(out, {
        "space": {"train.lr": {"log_uniform": [1.0e-6, 0.3]}}, "n_trials": 3,
        "sampler": {"type": "random", "seed": 3}, "pruner": "none",
    }, hub={"push": True, "repo_id": "me/tiny-search"}))
    done = hubtune(["search", str(recipe)], search_env)
    assert done.returncode == 0, done.stdout + done.stderr
    found = trials(out)
    assert states(found) == ["COMPLETE"] * 3
    default = found[0]  # the recipe's own (deliberately bad) lr runs first, through the same machinery
    assert default.params["train.lr"] == pytest.approx(1.0e-6) and default.user_attrs["origin"] == "recipe defaults"
    best = max(found, key=lambda t: t.value)
    assert best.value > default.value + 0.2 and best.params["train.lr"] > 1e-4
    for t in found:  # each trial a complete hubtune run, scored by the validation accuracy it keeps
        metrics = json.loads((out / "trials" / f"{t.number:03d}" / "metrics.json").read_text())
        assert metrics["metrics"]["validation"]["accuracy"] == pytest.approx(t.value)
        assert metrics["best_value"] == pytest.approx(max(t.intermediate_values.values()))
    assert (out / "best" / "model.safetensors").exists() and not (out / "best" / "checkpoints").exists()
    assert "## Hyperparameter search" in (out / "best" / "README.md").read_text()
    table = (out / "trials.csv").read_text().splitlines()
    assert len(table) == 4 and table[0].startswith("number,state,value")
    assert (out / "trials.md").read_text().count("| complete |") == 3
    for png in ("optimization_history.png", "param_importances.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best_yaml = yaml.safe_load((out / "best.yaml").read_text())
    assert "search" not in best_yaml or best_yaml["search"] is None
    assert best_yaml["train"]["lr"] == pytest.approx(best.params["train.lr"])
    assert "pushed" in done.stdout  # hub.push: the best model went to the (local) hub
    pulled = hubtune(["pull", "me/tiny-search", "--to", str(tmp_path / "pulled")], search_env)
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "pulled" / "model.safetensors").read_bytes() == (out / "best" / "model.safetensors").read_bytes()
    again = hubtune(["train", str(out / "best.yaml")], search_env)  # an ordinary recipe: it trains again
    assert again.returncode == 0, again.stderr
    rerun = json.loads((out / "retrain" / "metrics.json").read_text())
    assert rerun["metrics"]["validation"]["accuracy"] == pytest.approx(best.value, abs=0.05)


def test_pruner_stops_a_bad_trial_and_a_crash_is_recorded(tmp_path: Path, write_recipe, search_env) -> None:
    out = tmp_path / "search"
    recipe = write_recipe(digits_recipe(out, {
        "space": {"train.lr": {"log_uniform": [1.0e-7, 0.1]}, "backbone.kwargs.in_features": {"choice": [64, 65]}},
        "enqueue": [{"train.lr": 1.0e-7, "backbone.kwargs.in_features": 65},  # 65 inputs on 64 pixels: it crashes
                    {"train.lr": 1.0e-7, "backbone.kwargs.in_features": 64}],  # learns nothing: pruned
        "n_trials": 2, "pruner": {"type": "median", "n_startup_trials": 1},
    }, train={"epochs": 3, "lr": 0.05}))
    done = hubtune(["search", str(recipe)], search_env)
    assert done.returncode == 0, done.stdout + done.stderr
    found = trials(out)
    assert states(found) == ["COMPLETE", "FAIL", "PRUNED"]
    good, crashed, pruned = found
    assert len(good.intermediate_values) == 3 and good.value > 0.5
    assert "mat1 and mat2 shapes cannot be multiplied" in crashed.user_attrs["error"]
    assert list(pruned.intermediate_values) == [1]  # stopped after its first epoch...
    assert not (out / "trials" / "002" / "hubtune.json").exists()  # ...before it finished
    assert "pruned after epoch 1" in (out / "trials" / "002.log").read_text()
    assert "| fail |" in (out / "trials.md").read_text()


@pytest.mark.parametrize(("space", "message"), [
    ({"strategy.type": {"choice": ["full", "no_such_strategy"]}}, "no_such_strategy"),
    ({"train.lr": {"log_uniform": [0, 1.0e-3]}}, "must be > 0 for a log scale"),
    ({"train.lrr": {"uniform": [0.1, 0.2]}}, "did you mean 'lr'"),
    ({"strategy.decay": {"uniform": [0.5, 0.9]}}, "decay"),  # an option 'full' does not take
])
def test_invalid_space_exits_2_before_any_trial(tmp_path: Path, write_recipe, capsys, space, message) -> None:
    out = tmp_path / "search"
    recipe = write_recipe(digits_recipe(out, {"space": space, "n_trials": 2}))
    assert main(["search", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert message in err and "hubtune: error:" in err
    assert not out.exists()  # no study, no trial


def test_a_conditional_key_is_sampled_only_when_its_condition_holds(tmp_path: Path, write_recipe, capsys) -> None:
    space = {"strategy.type": {"choice": ["full", "layer_decay"]},
             "strategy.decay": {"uniform": [0.5, 0.9], "when": {"strategy.type": "layer_decay"}}}
    recipe = write_recipe(digits_recipe(tmp_path / "s", {"space": space, "n_trials": 2}))
    assert main(["search", str(recipe), "--check"]) == 0
    assert "valid" in capsys.readouterr().out


def test_each_trial_can_run_under_accelerate_launch(tmp_path: Path, write_recipe, search_env) -> None:
    """``search.accelerate_config``: every trial is a 2-process ``accelerate launch`` run (CPU, gloo)."""
    out = tmp_path / "search"
    search = {"space": {"train.lr": {"log_uniform": [1.0e-2, 1.0e-1]}}, "n_trials": 1, "enqueue_base": False,
              "pruner": "none", "accelerate_config": str(REPO / "recipes/accelerate/cpu_2proc.yaml")}
    recipe = write_recipe(digits_recipe(out, search, train={"epochs": 1}))
    env = {**search_env, "ACCELERATE_USE_CPU": "true"}
    done = hubtune(["search", str(recipe)], env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (trial,) = trials(out)
    assert trial.state.name == "COMPLETE"
    report = json.loads(Path(trial.user_attrs["folder"], "metrics.json").read_text())
    assert report["processes"] == 2 and trial.value == report["metrics"]["validation"]["accuracy"]
    bad = write_recipe(digits_recipe(tmp_path / "bad", {**search, "accelerate_config": "nope.yaml"}), "bad.yaml")
    refused = hubtune(["search", str(bad)], env)
    assert refused.returncode == 2 and "search.accelerate_config" in refused.stderr
