"""``hubtune select`` on digits with three real candidates: a trained source model and two fresh MLPs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from search_helpers import digits_recipe, hubtune


def test_select_ranks_fine_tunes_top_k_and_reports_tau(tmp_path: Path, write_recipe, search_env) -> None:
    source = tmp_path / "source"
    trained = hubtune(["train", str(write_recipe(digits_recipe(source, None, train={"lr": 0.05}), "source.yaml"))],
                      search_env)
    assert trained.returncode == 0, trained.stderr
    out = tmp_path / "select"
    target = write_recipe(digits_recipe(out, None, train={"epochs": 2, "lr": 0.02}), "target.yaml")
    fresh = ['custom:hubtune.backbones.small:mlp{"in_features": 64, "hidden": [4]}',
             'custom:hubtune.backbones.small:mlp{"in_features": 64, "hidden": [64]}']
    env = {**search_env, "HUBTUNE_CACHE": str(tmp_path / "cache")}
    done = hubtune(["select", str(target), "--candidates", str(source), *fresh, "--top-k", "2", "--epochs", "1"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((out / "select.json").read_text())
    rows = report["candidates"]
    assert [r["estimator_rank"] for r in rows] == [1, 2, 3]
    assert [r["logme"] for r in rows] == sorted((r["logme"] for r in rows), reverse=True)
    assert all(r["h_score"] is not None for r in rows)
    by_name = {r["candidate"]: r for r in rows}
    assert by_name[str(source)]["leep"] is not None  # the trained source head gives LEEP/NCE
    tuned = [r for r in rows if "fine_tuned" in r]
    assert [r["estimator_rank"] for r in tuned] == [1, 2]  # only the top-k were fine-tuned
    for r in tuned:
        metrics = json.loads((Path(r["folder"]) / "metrics.json").read_text())
        assert metrics["metrics"]["validation"]["accuracy"] == r["fine_tuned"]
    winner = max(tuned, key=lambda r: r["fine_tuned"])
    assert report["winner"] == winner["candidate"] and winner["fine_tuned_rank"] == 1
    from scipy.stats import kendalltau  # an independent computation of the reported agreement

    if len({r["fine_tuned"] for r in tuned}) == len(tuned):  # scipy gives nan on ties
        expected = kendalltau([r["logme"] for r in tuned], [r["fine_tuned"] for r in tuned]).statistic
        assert report["kendall_tau"]["logme"] == pytest.approx(expected)
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["backbone"] == yaml.safe_load((Path(winner["folder"]).with_suffix(".yaml")).read_text())["backbone"]
    assert "## Source model selection" in (out / "best" / "README.md").read_text()
    assert "Kendall" in (out / "select.md").read_text()


def test_select_refuses_a_bad_candidate_before_any_work(tmp_path: Path, write_recipe, search_env) -> None:
    out = tmp_path / "select"
    target = write_recipe(digits_recipe(out, None), "target.yaml")
    done = hubtune(["select", str(target), "--candidates", "nonsense-model", "timm:x"], search_env)
    assert done.returncode == 2 and "bad candidate 'nonsense-model'" in done.stderr
    assert not out.exists()
