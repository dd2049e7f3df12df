"""Every committed file under bench/results/ is what its documented command writes from the committed JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import Result  # noqa: E402
from bench.report import markdown  # noqa: E402

from bench import adaptation, adaptation_md, group_by_length, strategies, strategies_md  # noqa: E402

# result stem -> the module whose ``--from-json`` re-renders it (each has ``render(doc)``, hub_load ``markdown``)
RENDERERS = {"search": "bench.search", "select": "bench.select_source", "profile-cpu": "bench.profile_step",
             "image-path": "bench.image_path", "hub-load": "bench/hub_load.py", "multitask": "bench.multitask"}


@pytest.mark.parametrize("stem", sorted(RENDERERS))
def test_each_results_markdown_is_its_scripts_rendering(stem: str) -> None:
    import importlib

    if not (RESULTS / f"{stem}.json").exists():
        pytest.fail(f"bench/results/{stem}.json is missing: run its command (bench/README.md)")
    doc = json.loads((RESULTS / f"{stem}.json").read_text())
    module = importlib.import_module(RENDERERS[stem].replace("/", ".").removesuffix(".py"))
    render = getattr(module, "render", None) or module.markdown
    assert render(doc) == (RESULTS / f"{stem}.md").read_text()


def test_every_result_file_is_accounted_for() -> None:
    """A new file in bench/results needs a renderer here (and in ``make bench-results``)."""
    known = {"adaptation.json", "adaptation.md", "strategies.json", "strategies.md", "throughput-cpu.json",
             "throughput-cpu.md", "cpu.json", "group-by-length.json", "group-by-length.md", "hub-load.json",
             "hub-load.md", "distill.json", "distill.md", "privacy.json", "privacy.md", "audio.json", "audio.md",
             "dense.json", "dense.md", *(f"{stem}.{ext}" for stem in RENDERERS for ext in ("json", "md"))}
    assert {p.name for p in RESULTS.iterdir() if p.is_file()} <= known
    makefile = (REPO / "Makefile").read_text()
    for command in ("bench.strategies --from-json", "bench.adaptation render", "bench.group_by_length --from-json",
                    "--from-json bench/results/throughput-cpu.json", "bench.distill --from-json",
                    "bench.privacy --from-json", "bench.audio --from-json", "bench.dense --from-json",
                    *(f"{module} --from-json" for module in RENDERERS.values())):
        assert command in makefile


def test_markdown_is_rendered_from_the_committed_json() -> None:
    doc = adaptation.recompute(json.loads((RESULTS / "adaptation.json").read_text()))
    assert adaptation_md.render(doc) == (RESULTS / "adaptation.md").read_text()
    rows = json.loads((RESULTS / "strategies.json").read_text())
    assert strategies_md.render(rows, strategies.RUNS) == (RESULTS / "strategies.md").read_text()
    tp = json.loads((RESULTS / "throughput-cpu.json").read_text())
    assert markdown([Result(**r) for r in tp["results"]], tp["ratios"], tp["meta"]) == (
        RESULTS / "throughput-cpu.md").read_text()
    kd = RESULTS / "distill.json"
    if kd.exists():
        from bench import distill

        assert distill.render(json.loads(kd.read_text())) == kd.with_suffix(".md").read_text()
    dp = RESULTS / "privacy.json"
    if dp.exists():
        from bench import privacy

        assert privacy.render(json.loads(dp.read_text())) == dp.with_suffix(".md").read_text()
    seg = RESULTS / "dense.json"
    if seg.exists():
        from bench import dense

        assert dense.render(json.loads(seg.read_text())) == seg.with_suffix(".md").read_text()
    au = RESULTS / "audio.json"
    if au.exists():
        from bench import audio

        assert audio.render(json.loads(au.read_text())) == au.with_suffix(".md").read_text()
    gbl = RESULTS / "group-by-length.json"
    if gbl.exists():
        assert group_by_length.render(json.loads(gbl.read_text())) == gbl.with_suffix(".md").read_text()


def test_no_temporary_paths_in_results() -> None:
    for path in RESULTS.iterdir():
        if path.suffix in (".json", ".md"):
            assert "/tmp/" not in path.read_text(), path.name


def test_adaptation_render_recomputes_the_summary_from_the_per_seed_values() -> None:
    doc = json.loads((RESULTS / "adaptation.json").read_text())
    entry = doc["digits"]["mcc"]["target_test_acc_source_val_selected"]
    entry["values"] = [0.5, 0.7]  # the mean/std/n left stale on purpose
    md = adaptation_md.render(adaptation.recompute(doc))
    assert "| mcc | 60.0 ± 10.0 |" in md


def test_aggregate_keeps_the_last_row_per_method_and_seed(tmp_path: Path) -> None:
    doc_path = tmp_path / "adaptation.json"
    kept = json.loads((RESULTS / "adaptation.json").read_text())["discrepancy"]
    doc_path.write_text(json.dumps({"discrepancy": kept}))
    rows = [("source_only", 0, 0.50), ("dann", 0, 0.10), ("dann", 0, 0.60), ("dann", 1, 0.70), ("source_only", 1, 0.54)]
    log = tmp_path / "runs.jsonl"
    log.write_text("".join(json.dumps({"method": m, "seed": s, "test_selected": a, "test_last": a, "source_val": 0.9,
                                       "seconds": 10.0, "machine": {"device": "CPU", "cpus": 2, "threads": 2,
                                                                    "load1": 1.5 + s, "torch": "x"}}) + "\n"
                           for m, s, a in rows))
    doc = adaptation.aggregate("digits", log, doc_path)
    dann = doc["digits"]["dann"]["target_test_acc_source_val_selected"]
    assert dann["values"] == [0.60, 0.70] and dann["mean"] == pytest.approx(0.65) and dann["std"] == pytest.approx(0.05)
    assert doc["discrepancy"] == kept and doc["digits"]["source_only"]["seeds"] == [0, 1]
    assert sorted(doc["hardware"]["digits"]["load1"]) == [1.5, 1.5, 2.5, 2.5]  # one per kept run
    assert doc["protocol"]["digits"]["dann"]["method"] == "dann"  # read from recipes/adaptation/digits-dann.yaml
    assert "| dann | 65.0 ± 5.0 |" in adaptation_md.render(doc)
    assert json.loads(doc_path.read_text()) == doc


def test_last_epoch_accuracy_matches_the_exported_last_epoch(tmp_path: Path, data_root: Path) -> None:
    """With ``keep_best: false`` the exported model *is* the last epoch: the checkpoint-based number must agree."""
    row = adaptation.run_one("recipes/adaptation/digits-source-only.yaml", 0, [
        "data.max_train_samples=128", "data.max_eval_samples=64", "train.epochs=2", "train.batch_size=32",
        "eval.keep_best=false"])
    assert row["test_last"] is not None and row["test_last"] == pytest.approx(row["test_selected"], abs=1e-9)
    assert row["method"] == "source_only" and row["machine"]["cpus"]


def test_strategies_from_json_rewrites_the_markdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"task": "t", "strategy": s, "seed": seed, "accuracy": acc, "test_accuracy": None, "trainable_params": n,
             "total_params": 100, "wall_s": 1.0} for s, seed, acc, n in
            (("full", 0, 0.80, 100), ("full", 1, 0.90, 100), ("linear_probe", 0, 0.84, 2), ("linear_probe", 1, 0.86, 2),
             ("bitfit", 0, 0.5, 5))]
    (tmp_path / "strategies.json").write_text(json.dumps(rows))
    monkeypatch.setattr(strategies, "HERE", tmp_path)
    monkeypatch.setattr(strategies, "RESULTS", tmp_path / "strategies.json")
    strategies.main(["--from-json"])
    md = (tmp_path / "strategies.md").read_text()
    assert "| t | full | 85.00 ± 7.07 |" in md and "| t | linear_probe | 85.00 ± 1.41 |" in md
    assert "within 1 point of full: linear_probe (2.00 % trainable" in md
    assert "More than 5 points below full: bitfit (50.0 ± 0.0)" in md


def test_make_bench_results_commands_run(tmp_path: Path) -> None:
    """The adaptation renderer as ``make bench-results`` calls it, on a copy of the committed JSON."""
    code = ("import sys, pathlib, bench.adaptation as a; p = pathlib.Path(sys.argv[1]); a.render_files(p)")
    (tmp_path / "adaptation.json").write_text((RESULTS / "adaptation.json").read_text())
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "adaptation.json")], cwd=REPO, check=True)
    assert (tmp_path / "adaptation.md").read_text() == (RESULTS / "adaptation.md").read_text()
