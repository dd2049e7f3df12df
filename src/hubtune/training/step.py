"""The calls one optimizer step makes, and the CPU allocator setting the training loop runs under.

:func:`step_calls` gives Accelerate's wrappers (``accumulate``, ``backward``, ``clip_grad_norm_``, the prepared
optimizer and schedule) wherever they do real work — several processes, gradient accumulation, a loss scaler,
FSDP / DeepSpeed / XLA — and otherwise the direct torch calls they reduce to, without their per-step Python
work (bit for bit the same update: ``tests/training/test_direct_step.py``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType
from torch import Tensor, nn

# HUBTUNE_KEEP_FREED_MEMORY=0: leave glibc's malloc settings alone when training on the CPU (see keep_freed_memory)
KEEP_FREED_MEMORY_ENV = "HUBTUNE_KEEP_FREED_MEMORY"


@dataclass(frozen=True)
class StepCalls:
    """What the loop calls for one micro-batch: ``with accumulate(model): backward(loss); clip(params, max)``,
    then ``optimizer.step(); scheduler.step(); optimizer.zero_grad(set_to_none=True)``."""

    accumulate: Callable[[nn.Module], contextlib.AbstractContextManager[Any]]
    backward: Callable[[Tensor], None]
    clip: Callable[[list[nn.Parameter], float], Any]
    params: list[nn.Parameter]
    optimizer: Any
    scheduler: Any
    direct: bool


def direct_step_possible(acc: Accelerator) -> bool:
    """One process, no gradient accumulation, no loss scaler (fp16), no FSDP / DeepSpeed / XLA: there
    ``acc.accumulate`` only sets ``sync_gradients``, ``acc.backward`` divides the loss by 1 and
    ``acc.clip_grad_norm_`` calls ``torch.nn.utils.clip_grad_norm_``."""
    return (acc.distributed_type == DistributedType.NO and acc.num_processes == 1
            and acc.gradient_accumulation_steps == 1 and acc.scaler is None)


def step_calls(acc: Accelerator, model: nn.Module, optimizer: Any, scheduler: Any, direct: bool) -> StepCalls:
    """The step's calls for the prepared ``model``, ``optimizer`` and ``scheduler``; ``direct`` (see
    :func:`direct_step_possible`) takes the torch optimizer and schedule out of their Accelerate wrappers, whose
    checks cannot fire there (XLA, a package lookup twice a step for LOMO, skipped fp16 steps, processes)."""
    params = list(model.parameters())
    if not direct:
        return StepCalls(acc.accumulate, acc.backward, acc.clip_grad_norm_, params, optimizer, scheduler, False)

    @contextlib.contextmanager
    def accumulate(_model: nn.Module) -> Iterator[None]:
        acc._do_sync()  # all that acc.accumulate does with one process and no accumulation: sync_gradients
        yield

    return StepCalls(accumulate, Tensor.backward, torch.nn.utils.clip_grad_norm_, params,
                     optimizer.optimizer, scheduler.scheduler, True)


def keep_freed_memory() -> bool:
    """Let glibc keep the memory a CPU training step frees for the next step, instead of handing it back.

    By default glibc maps allocations above a threshold (at most 32 MiB) with ``mmap`` and unmaps them when
    freed, and trims the heap top above twice that. A step frees its activations and (``zero_grad(set_to_none)``)
    its gradients (MiniLM's word-embedding gradient alone is 47 MB), so every step faulted the same pages in
    again: about 16,000 page faults and 7–10 % of a MiniLM step's CPU time on 2 cores (bench/README.md).
    With both thresholds at 1 GiB the pages stay in the process: no faults, about the same peak memory, which
    the process keeps until it exits. Process-wide and not undone (glibc cannot go back to its dynamic
    threshold); returns whether both settings took. Linux with glibc only."""
    if os.environ.get(KEEP_FREED_MEMORY_ENV, "1") == "0" or not sys.platform.startswith("linux"):
        return False
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    trim = libc.mallopt(m_trim_threshold, 1 << 30)
    # older glibc refuses an mmap threshold above 32 MiB (its dynamic maximum on 64-bit)
    mapped = libc.mallopt(m_mmap_threshold, 1 << 30) or libc.mallopt(m_mmap_threshold, 32 << 20)
    return bool(trim and mapped)
