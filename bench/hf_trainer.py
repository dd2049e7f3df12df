"""The text peer: ``transformers.Trainer`` with its defaults, bf16 on CUDA, on the same fixed batch."""

from __future__ import annotations

import gc
import tempfile
import time
from typing import Any

import torch

from bench.common import Result, mfu, peak_memory_mib, reset_peak_memory, sync
from bench.synthetic import FixedBatch, IndexDataset, make_batch
from bench.workloads import Workload, plain_model


def _clock(warmup: int, device: torch.device) -> Any:
    """A ``TrainerCallback`` that notes the time after ``warmup`` steps and at the end (synchronised)."""
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        start: float | None = None
        end: float | None = None

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == warmup:
                sync(device)
                self.start = time.perf_counter()

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            sync(device)
            self.end = time.perf_counter()

    return Clock()


def run_hf_trainer(w: Workload, device: torch.device, *, precision: str, warmup: int, steps: int,
                   flops: float | None = None) -> Result:
    """``Trainer.train`` for ``warmup + steps`` steps; the rate over the last ``steps``."""
    from transformers import Trainer, TrainingArguments

    from bench.hubtune_engine import fresh_accelerator_state

    reset_peak_memory(device)
    fresh_accelerator_state()
    clock = _clock(warmup, device)
    with tempfile.TemporaryDirectory(prefix="hf-trainer-bench-") as tmp:
        args = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=w.batch_size, max_steps=warmup + steps,
            learning_rate=1e-4, weight_decay=0.01, bf16=precision == "bf16", use_cpu=device.type == "cpu",
            save_strategy="no", eval_strategy="no", logging_steps=10**9, report_to="none",
            disable_tqdm=True, seed=0,
        )
        trainer = Trainer(model=plain_model(w), args=args, train_dataset=IndexDataset((warmup + steps) * w.batch_size),
                          data_collator=FixedBatch(make_batch(w)), callbacks=[clock])
        trainer.train()
        optim = str(args.optim)
        del trainer
    seconds = clock.end - clock.start
    rate = steps * w.batch_size / seconds
    peak = peak_memory_mib(device)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    notes = {"precision": precision, "optim": optim, "max_grad_norm": 1.0, "scheduler": "linear",
             "data": "fixed batch via DataLoader", "steps_per_s": steps / seconds}
    return Result(w.name, "hf_trainer", w.batch_size, rate, 1000 * seconds / steps, peak, steps,
                  mfu(flops, rate, device), notes)
