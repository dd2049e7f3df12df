"""The training loop on Accelerate, in one readable file.

Mixed precision, gradient accumulation, clipping, warmup + decay schedules, evaluation each
epoch, early stopping, best weights kept, checkpoints every N steps and each epoch, exact
resume (mid-epoch too), SIGINT/SIGTERM checkpoints, a progress bar and trackers. The loss is
accumulated on the device and read only every ``log_every`` steps: no host sync per step.
"""

from __future__ import annotations

import copy
import importlib
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType
from torch import Tensor
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from hubtune.contracts import Strategy
from hubtune.data import DataBundle
from hubtune.errors import RecipeError
from hubtune.evaluation import EvalResult, evaluate_model
from hubtune.metrics import greater_is_better
from hubtune.model import TransferModel
from hubtune.recipe import Recipe
from hubtune.training.checkpoint import (
    Interrupted,
    TrainState,
    latest_checkpoint,
    load_checkpoint,
    read_state,
    save_checkpoint,
)
from hubtune.training.optim import build_optimizer, build_scheduler
from hubtune.training.sampling import SeededDataset, train_sampler
from hubtune.training.step import direct_step_possible, keep_freed_memory, step_calls

log = logging.getLogger(__name__)
Objective = Callable[[TransferModel, dict[str, Tensor]], Tensor]
# HUBTUNE_EPOCH_HOOK="module:factory": factory() returns hook(epoch, validation_metrics), called on the
# main process after each epoch's validation (hubtune search reports to its pruner there; a hook may stop the run).
EPOCH_HOOK_ENV = "HUBTUNE_EPOCH_HOOK"


def _epoch_hook() -> Callable[[int, dict[str, float]], None] | None:
    spec = os.environ.get(EPOCH_HOOK_ENV)
    if not spec:
        return None
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)()


class Trainer:
    """Fits ``model`` on ``data`` with ``strategy``; ``objective`` may replace the supervised loss."""

    def __init__(self, recipe: Recipe, model: TransferModel, strategy: Strategy, data: DataBundle,
                 accelerator: Accelerator, output_dir: Path, objective: Any = None) -> None:
        self.recipe, self.cfg, self.strategy, self.data = recipe, recipe.train, strategy, data
        self.accelerator, self.output_dir = accelerator, output_dir
        self.objective = objective
        self.ckpt_dir = output_dir / "checkpoints"
        self.best_path = self.ckpt_dir / "best.safetensors"
        self.state = TrainState()
        self._signal: int | None = None
        # loss of the batches since the last log, on the device (no sync per step); spans epoch ends
        self._loss_sum, self._loss_batches = torch.zeros((), device=accelerator.device), 0
        self.spec = model.head_spec
        strategy.setup(model)
        if recipe.privacy is not None:  # DP-SGD: see hubtune.training.privacy
            from hubtune.training.privacy import prepare_private_model

            prepare_private_model(model, recipe.privacy)
        if self.cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.cfg.compile:
            model.compile()
        # FSDP shards the prepared module's parameters: keep an unsharded copy to export into
        self._unsharded = copy.deepcopy(model) if accelerator.distributed_type == DistributedType.FSDP else None
        self.train_set = SeededDataset(data.train, recipe.seed)
        self.sampler = train_sampler(data.train, self.cfg.batch_size, recipe.seed, self.cfg.group_by_length)
        loader = self._loader(self.train_set, self.cfg.batch_size, self.sampler)
        self.eval_loaders = {
            name: accelerator.prepare_data_loader(self._loader(ds, self.cfg.eval_batch_size or self.cfg.batch_size))
            for name, ds in (("validation", data.validation), ("test", data.test)) if ds is not None
        }
        self.model, self.train_loader = accelerator.prepare(model, loader)
        self.steps_per_epoch = max(1, math.ceil(len(self.train_loader) / self.cfg.grad_accum))
        self.total_steps = self.cfg.max_steps or self.steps_per_epoch * self.cfg.epochs
        self._build_optimizer()
        self.privacy = None
        if recipe.privacy is not None:
            from hubtune.training.privacy import attach_privacy

            self.privacy = attach_privacy(self)
        self.epoch_hook = _epoch_hook() if accelerator.is_main_process else None

    # ------------------------------------------------------------------ setup
    def _loader(self, dataset: Any, batch_size: int, sampler: Any = None) -> DataLoader:
        workers = self.recipe.data.num_workers
        return DataLoader(
            dataset, batch_size=batch_size, sampler=sampler, shuffle=False, collate_fn=self.data.collate_fn,
            # pinned host memory only speeds up copies to a GPU (a CPU run on a GPU machine would pay to pin for nothing)
            num_workers=workers, pin_memory=self.accelerator.device.type == "cuda", persistent_workers=False,
            generator=torch.Generator().manual_seed(self.recipe.seed), drop_last=False,
            prefetch_factor=4 if workers else None,
        )

    def _build_optimizer(self) -> None:
        """(Re)build optimizer and schedule from the strategy's current parameter groups."""
        unwrapped = self.accelerator.unwrap_model(self.model)
        groups = self.strategy.param_groups(unwrapped, self.cfg.lr, self.cfg.weight_decay, self.cfg.head_lr_mult)
        optimizer = build_optimizer(groups, self.cfg, self.accelerator.device)
        # the prepared scheduler steps once per process per optimizer step (Accelerate's convention)
        scheduler = build_scheduler(optimizer, self.cfg, self.total_steps - self.state.schedule_start,
                                    calls_per_step=self.accelerator.num_processes)
        acc = self.accelerator
        acc._optimizers.clear()
        acc._schedulers.clear()
        self.optimizer = acc.prepare_optimizer(optimizer)
        self.scheduler = acc.prepare_scheduler(scheduler)

    def _apply_phase(self, restoring: bool = False) -> None:
        """Let the strategy set the trainable parameters for this epoch; rebuild what that changes.

        A new schedule spans the steps left when its phase began (``schedule_start``), which a
        restored checkpoint carries, so a resumed schedule is the interrupted one."""
        if self.strategy.on_epoch_start(self.state.epoch, self.accelerator.unwrap_model(self.model)):
            if not restoring:
                self.state.schedule_start = self.state.global_step
            self._rewrap_model()

    def _rewrap_model(self) -> None:
        """After a strategy changes which parameters train, wrap the model again (DDP buckets)
        and start a fresh optimizer and schedule over the remaining steps."""
        acc = self.accelerator
        if acc.num_processes > 1:
            model = acc.unwrap_model(self.model)
            acc._models.clear()
            self.model = acc.prepare_model(model)
        self._build_optimizer()

    # ------------------------------------------------------------------ loop
    def fit(self, resume: Path | str | None = None) -> TrainState:
        """Train to the end (or until early stopping); restores the best weights when asked."""
        if resume:
            self._resume(Path(resume) if resume != "latest" else latest_checkpoint(self.ckpt_dir))
        st = self.state
        if self.accelerator.device.type == "cpu":
            keep_freed_memory()
        bar = tqdm(total=self.total_steps, initial=st.global_step, disable=not self.accelerator.is_local_main_process,
                   desc="train", dynamic_ncols=True, mininterval=0.1 if sys.stderr.isatty() else 10.0)
        previous = {signum: signal.signal(signum, self._on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._apply_phase()
            while not st.finished and st.epoch < self._epochs() and st.global_step < self.total_steps:
                self._train_epoch(bar)
                self._end_epoch()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            bar.close()
        st.finished = True
        if self.recipe.eval.keep_best and self.best_path.exists():
            self._load_best()
        return st

    def _epochs(self) -> int:
        return self.cfg.epochs if self.cfg.max_steps is None else max(self.cfg.epochs, math.ceil(self.total_steps / self.steps_per_epoch))

    def _train_epoch(self, bar: tqdm) -> None:
        if self.privacy is not None:
            return self.privacy.train_epoch(bar)
        acc, st, model = self.accelerator, self.state, self.model
        # Accelerate's loader re-applies its own epoch counter to sampler and dataset on each
        # iteration (a skip loader starts from the counter): set it, not just the sampler.
        self.train_loader.set_epoch(st.epoch)
        model.train()
        loader = acc.skip_first_batches(self.train_loader, st.batch_in_epoch) if st.batch_in_epoch else self.train_loader
        calls = step_calls(acc, model, self.optimizer, self.scheduler, self._direct_step())
        seen, t0 = 0, time.perf_counter()
        for batch in loader:
            with calls.accumulate(model):
                loss = self._loss(batch)
                calls.backward(loss)
                if acc.sync_gradients and self.cfg.max_grad_norm:
                    calls.clip(calls.params, self.cfg.max_grad_norm)
                calls.optimizer.step()
                calls.scheduler.step()
                calls.optimizer.zero_grad(set_to_none=True)
            self._loss_sum += loss.detach()
            self._loss_batches += 1
            seen += _batch_size(batch)
            st.batch_in_epoch += 1
            if not acc.sync_gradients:
                continue
            st.global_step += 1
            bar.update(1)
            if st.global_step % self.cfg.log_every == 0:
                self._log_train(bar, seen, t0)
                seen, t0 = 0, time.perf_counter()
            self._checkpoint_or_stop(end_of_epoch=st.batch_in_epoch >= len(self.train_loader))
            if st.global_step >= self.total_steps:
                break
        st.batch_in_epoch = 0

    def _checkpoint_or_stop(self, end_of_epoch: bool) -> None:
        """After an optimizer step: a checkpoint every ``checkpoint_every`` steps (an epoch's end saves its own),
        and a pending SIGINT/SIGTERM saves, then stops the run."""
        if self.cfg.checkpoint_every and self.state.global_step % self.cfg.checkpoint_every == 0 and not end_of_epoch:
            self.save()
        if self._signal is not None:
            raise Interrupted(self._signal, self.save())

    def _direct_step(self) -> bool:
        """Whether a step may skip Accelerate's per-step wrappers (:func:`hubtune.training.step.direct_step_possible`)."""
        return direct_step_possible(self.accelerator)

    def _loss(self, batch: dict[str, Tensor]) -> Tensor:
        if self.objective is not None:
            loss = self.objective(self.model, batch)
        else:
            logits = self.model(batch)
            loss = self.spec.loss(logits, batch["labels"], self.cfg.label_smoothing)
        extra = self.strategy.extra_loss(self._unwrapped())
        return loss if extra is None else loss + extra

    def _unwrapped(self) -> TransferModel:
        """``accelerator.unwrap_model(self.model)``, kept while ``self.model`` is the same object: unwrapping
        walks every submodule and probes installed packages (about 1 ms a step on a small model)."""
        cached = self.__dict__.get("_unwrapped_cache")
        if cached is None or cached[0] is not self.model:
            cached = self._unwrapped_cache = (self.model, self.accelerator.unwrap_model(self.model))
        return cached[1]

    def _log_train(self, bar: tqdm, seen: int, t0: float) -> None:
        """Log the mean loss of the (micro-)batches summed since the last log, which may span an epoch end
        (or start at a resume), and the throughput since the last log or the epoch start."""
        loss = (self._loss_sum / max(1, self._loss_batches)).item()
        self._loss_sum.zero_()
        self._loss_batches = 0
        lr = self.scheduler.get_last_lr()[0]
        rate = seen * self.accelerator.num_processes / max(1e-9, time.perf_counter() - t0)
        row = {"step": self.state.global_step, "epoch": self.state.epoch, "train_loss": loss, "lr": lr,
               "samples_per_s": rate}
        self.state.history.append(row)
        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", it_s=f"{rate:.1f}/s")
        self.accelerator.log({"train/loss": loss, "train/lr": lr, "train/samples_per_s": rate}, step=self.state.global_step)

    def _end_epoch(self) -> None:
        st = self.state
        if "validation" in self.eval_loaders:
            metrics = self.evaluate("validation").metrics
            row = {"epoch": st.epoch + 1, "step": st.global_step, "split": "validation", **metrics}
            st.history.append(row)
            self.accelerator.log({f"validation/{k}": v for k, v in metrics.items()}, step=st.global_step)
            self.accelerator.print(f"epoch {st.epoch + 1}: " + "  ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
            self._select(metrics)
            if self.epoch_hook is not None:
                self.epoch_hook(st.epoch + 1, metrics)
        st.epoch += 1
        if not st.finished and st.epoch < self._epochs():
            self._apply_phase()  # before saving, so a checkpoint's optimizer matches its phase
        self.save()

    def _select(self, metrics: dict[str, float]) -> None:
        """Keep the best weights and count epochs without improvement (early stopping)."""
        st, ev = self.state, self.recipe.eval
        name = ev.best_metric or (ev.early_stopping.metric if ev.early_stopping else None) or ev.metrics[0]
        if name not in metrics:
            raise RecipeError(f"eval.best_metric: {name!r} was not computed (have: {', '.join(metrics)})")
        value, better = metrics[name], greater_is_better(name)
        delta = ev.early_stopping.min_delta if ev.early_stopping else 0.0
        improved = st.best_value is None or (value > st.best_value + delta if better else value < st.best_value - delta)
        if improved:
            st.best_value, st.best_epoch, st.bad_epochs = value, st.epoch + 1, 0
            if ev.keep_best:
                self._save_best()
        else:
            st.bad_epochs += 1
        if ev.early_stopping and st.bad_epochs >= ev.early_stopping.patience:
            self.accelerator.print(f"early stopping: {name} has not improved for {st.bad_epochs} epoch(s)")
            st.finished = True

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, split: str = "validation") -> EvalResult:
        """Loss and metrics on ``split`` (see :func:`hubtune.evaluation.evaluate_model`)."""
        return evaluate_model(self.model, self.eval_loaders[split], self.spec, self.recipe.eval.metrics,
                              self.data.labels, self.accelerator)

    # ------------------------------------------------------------------ state
    def save(self) -> Path | None:
        self.state.strategy = self.strategy.state_dict()
        if self.privacy is not None:
            self.state.privacy = self.privacy.state_dict()
        if self.objective is not None:
            self.state.objective = self.objective.state_dict()
        return save_checkpoint(self.accelerator, self.ckpt_dir, self.state, self.cfg.keep_checkpoints)

    def _resume(self, path: Path | None) -> None:
        if path is None:
            self.accelerator.print(f"no checkpoint under {self.ckpt_dir}: starting from the beginning")
            return
        self.state = read_state(path)
        self.strategy.load_state_dict(self.state.strategy)
        self._apply_phase(restoring=True)  # the optimizer needs the saved phase's groups before its state
        load_checkpoint(self.accelerator, path)
        if self.objective is not None:
            self.objective.load_state_dict(self.state.objective)
        if self.privacy is not None:
            self.privacy.load_state_dict(self.state.privacy)
        self.accelerator.print(f"resumed from {path} (epoch {self.state.epoch}, step {self.state.global_step})")

    def _save_best(self) -> None:
        acc = self.accelerator
        state = acc.get_state_dict(self.model)
        if acc.is_main_process:
            from safetensors.torch import save_file

            from hubtune.atomic import atomic_write_with

            tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
            atomic_write_with(self.best_path, lambda tmp: save_file(tensors, tmp))
        acc.wait_for_everyone()

    def _load_best(self) -> None:
        from safetensors.torch import load_file

        self.accelerator.wait_for_everyone()
        state = load_file(str(self.best_path))
        # FSDP (FULL_STATE_DICT) loads a full state dict through its wrapper, which re-shards it
        target = self.model if self._unsharded is not None else self.accelerator.unwrap_model(self.model)
        target.load_state_dict(state)

    def export_model(self) -> TransferModel:
        """The trained model as a plain module; every rank must call this.

        Under FSDP the unwrapped module holds only shards: the full state dict is gathered
        (``get_state_dict``) and loaded into the unsharded copy on the main process."""
        acc = self.accelerator
        if self._unsharded is None:
            return acc.unwrap_model(self.model)
        state = acc.get_state_dict(self.model)
        live = {n.replace("_fsdp_wrapped_module.", ""): p.requires_grad
                for n, p in acc.unwrap_model(self.model).named_parameters()}
        if acc.is_main_process:
            self._unsharded.load_state_dict(state)
            for name, p in self._unsharded.named_parameters():
                p.requires_grad_(live.get(name, p.requires_grad))
        return self._unsharded

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._signal is not None:  # second signal: stop now
            raise KeyboardInterrupt
        self._signal = signum


def _batch_size(batch: dict[str, Tensor]) -> int:
    return int(next(iter(batch.values())).shape[0])

