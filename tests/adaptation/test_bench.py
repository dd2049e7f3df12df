"""The adaptation evidence runner's aggregation: runs per seed → mean ± std in the results JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubtune.adaptation import bench


def test_aggregate_keeps_the_last_row_per_method_and_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    (tmp_path / "adaptation.json").write_text(json.dumps({"discrepancy": {"kept": 1}}))
    rows = [("source_only", 0, 0.50), ("dann", 0, 0.10), ("dann", 0, 0.60), ("dann", 1, 0.70),
            ("source_only", 1, 0.54)]
    log = tmp_path / "runs.jsonl"
    log.write_text("".join(json.dumps({"method": m, "seed": s, "test_selected": a, "test_last": a, "source_val": 0.9,
                                       "seconds": 10.0}) + "\n" for m, s, a in rows))
    table = bench.aggregate("digits", log)
    doc = json.loads((tmp_path / "adaptation.json").read_text())
    dann = doc["digits"]["dann"]["target_test_acc_source_val_selected"]
    assert dann["values"] == [0.60, 0.70] and dann["mean"] == pytest.approx(0.65) and dann["std"] == pytest.approx(0.05)
    assert doc["discrepancy"] == {"kept": 1} and doc["digits"]["source_only"]["seeds"] == [0, 1]
    assert "| dann | 65.0 ± 5.0 |" in table
