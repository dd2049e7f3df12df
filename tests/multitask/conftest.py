"""Fixtures of the multi-task tests: recipes live in ``mt_helpers``; the training helpers are shared with tests/training."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))
