"""The throughput benchmark's harness (``bench/``) on the CPU: each engine, the JPEG pipeline,
ratios and the CLI end to end on tiny settings."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import Result, time_loop, train_flops_per_sample  # noqa: E402
from bench.hubtune_engine import LoopSettings, run_hubtune, steady_rate  # noqa: E402
from bench.pipeline import replicate_jpegs, run_pipeline  # noqa: E402
from bench.plain_loop import plain_loss, run_plain  # noqa: E402
from bench.report import markdown, ratios  # noqa: E402
from bench.synthetic import make_batch, synthetic_bundle  # noqa: E402
from bench.workloads import Workload, plain_model  # noqa: E402

CPU = torch.device("cpu")
TINY = Workload("tiny", "vision", "test_resnet", batch_size=4, image_size=32)


def settings(**kw) -> LoopSettings:
    return LoopSettings(**{"precision": "no", "compile": False, "channels_last": True, "steps": 2, "windows": 1, **kw})


def test_steady_rate_drops_warmup_windows() -> None:
    history = [{"samples_per_s": 1.0}, {"epoch": 0, "split": "validation"}, {"samples_per_s": 10.0},
               {"samples_per_s": 30.0}, {"samples_per_s": 20.0}]
    assert steady_rate(history, warmup_windows=1) == 20.0
    with pytest.raises(RuntimeError, match="no training window"):
        steady_rate([], 1)


def test_hubtune_and_plain_engines_measure_the_same_workload() -> None:
    s = settings()
    hub = run_hubtune(TINY, s, CPU, synthetic_bundle(TINY, s.total_steps))
    plain = run_plain(TINY, CPU, compiled=False, precision="no", warmup=1, steps=2)
    for r in (hub, plain):
        assert r.samples_per_s > 0 and r.peak_mem_mib and r.peak_mem_mib > 0 and r.mfu is None
    assert hub.engine == "hubtune" and plain.engine == "plain_eager" and plain.notes["channels_last"]


def test_flops_per_sample_counts_forward_and_backward() -> None:
    model = plain_model(TINY)
    flops = train_flops_per_sample(model, make_batch(TINY, batch_size=2), plain_loss)
    with torch.utils.flop_counter.FlopCounterMode(display=False) as forward_only, torch.no_grad():
        model(make_batch(TINY, batch_size=2)["pixel_values"])
    assert 2.5 < flops / (forward_only.get_total_flops() / 2) < 3.5  # backward ≈ 2× forward


def test_time_loop_times_the_steps_and_not_the_warmup() -> None:
    import time

    calls = []

    def step() -> None:  # warm-up calls are slow (0.2 s), measured ones 0.02 s
        calls.append(1)
        time.sleep(0.2 if len(calls) <= 2 else 0.02)

    seconds = time_loop(step, 2, 3, CPU)
    assert len(calls) == 5
    assert 0.06 <= seconds < 0.4  # the three measured sleeps, without the 0.4 s of warm-up


def test_jpeg_pipeline_through_hubtune_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.pipeline as pipeline

    monkeypatch.setattr(pipeline, "DATA", tmp_path)
    folder = replicate_jpegs(12, tmp_path)
    assert len(list(folder.glob("train/*/*.jpg"))) == 12 and {p.name for p in (folder / "train").iterdir()} == {
        "ants", "bees"}
    assert replicate_jpegs(12, tmp_path) == folder  # reused
    w = replace(TINY, name="pipeline")
    loader, e2e = run_pipeline(w, settings(num_workers=0, steps=1), CPU, 40)
    assert loader.engine == "pipeline_loader" and loader.samples_per_s > 0
    assert e2e.engine == "hubtune_jpeg" and e2e.samples_per_s > 0 and e2e.notes["files"] == 40


def test_ratios_are_judged_against_the_devices_targets() -> None:
    def result(engine: str, rate: float) -> Result:
        return Result("resnet50", engine, 8, rate, 1000 * 8 / rate, None, 2)

    results = [result("hubtune", 96.0), result("plain_compiled", 100.0), result("plain_eager", 80.0)]
    rows = {r["ratio"]: r for r in ratios(results, gpu=True)}
    assert rows["hubtune / plain_compiled"]["value"] == 0.96 and rows["hubtune / plain_compiled"]["verdict"] == "pass"
    assert rows["hubtune / plain_eager"]["verdict"] is None
    cpu_rows = {r["ratio"]: r for r in ratios(results, gpu=False)}
    assert cpu_rows["hubtune / plain_compiled"]["verdict"] is None  # no CPU target for the compiled loop
    assert cpu_rows["hubtune / plain_eager"]["target"] == 0.98 and cpu_rows["hubtune / plain_eager"]["verdict"] == "pass"
    slow = ratios([result("hubtune", 70.0), result("plain_eager", 80.0)], gpu=False)
    assert slow[0]["verdict"] == "miss"
    meta = {"device": "CPU", "mode": "cpu-quick", "precision": "no", "loadavg_before": [1, 1, 1],
            "loadavg_after": [2, 2, 2]}
    table = markdown(results, list(cpu_rows.values()), meta)
    assert "| resnet50 | hubtune | 8 | 96.0 |" in table and "| 0.98 | pass |" in table


def test_cli_quick_cpu_text_run(tmp_path: Path) -> None:
    """``bench/run.py --device cpu --quick`` on MiniLM: hubtune vs the transformers Trainer."""
    from bench.run import main

    stem = tmp_path / "out"
    assert main(["--device", "cpu", "--quick", "--workloads", "minilm", "--engines", "hubtune,hf_trainer",
                 "--steps", "1", "--batch-size", "4", "--out", str(stem)]) == 0
    doc = json.loads(stem.with_suffix(".json").read_text())
    assert doc["meta"]["gpu_measured"] is False and "NOT the GPU targets" in doc["meta"]["note"]
    assert [r["engine"] for r in doc["results"]] == ["hubtune", "hf_trainer"]
    assert doc["results"][0]["notes"]["flops_per_sample"] > 0
    assert doc["ratios"][0]["ratio"] == "hubtune / hf_trainer"
    assert stem.with_suffix(".md").read_text().startswith("**CPU")
