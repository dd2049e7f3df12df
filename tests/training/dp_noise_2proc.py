"""Run by ``torch.distributed.run --nproc_per_node 2``: the noise on the averaged gradient of DP-SGD.

Each process holds half of a logical batch of B examples whose per-sample gradients are all zero,
so the gradient each process applies after the DP optimizer's step is pure noise. Rank 0 writes
those noise draws (times B) as JSON to ``argv[1]``, and both ranks' applied gradients are compared.
"""

from __future__ import annotations

import json
import sys

import torch
import torch.distributed as dist
from opacus import GradSampleModule
from torch import nn

from hubtune.privacy_schema import PrivacyConfig
from hubtune.training.privacy import dp_optimizer

SIGMA, CLIP, BATCH, STEPS = 0.8, 2.0, 16, 8

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
model = nn.Linear(500, 1, bias=False)
nn.init.zeros_(model.weight)
gsm = GradSampleModule(model, loss_reduction="mean")
cfg = PrivacyConfig(noise_multiplier=SIGMA, max_grad_norm=CLIP)
gen = torch.Generator().manual_seed(7)  # the same seed in every process, as the trainer does
opt = dp_optimizer(torch.optim.SGD(model.parameters(), lr=0.0), cfg, SIGMA, BATCH // world, distributed=True,
                   generator=gen)
draws, same = [], True
for _ in range(STEPS):
    x = torch.randn(BATCH // world, 500)
    loss = 0.5 * (gsm(x).squeeze(1) ** 2).mean()  # w = 0: every per-sample gradient is zero
    loss.backward()
    opt.step()
    grad = model.weight.grad.detach().clone()
    other = grad.clone()
    dist.broadcast(other, src=1)
    same = same and torch.equal(grad, other)
    draws.append((grad * BATCH).flatten())
    opt.zero_grad(set_to_none=True)
if rank == 0:
    noise = torch.cat(draws)
    with open(sys.argv[1], "w") as f:
        json.dump({"std": float(noise.std()), "mean": float(noise.mean()), "n": noise.numel(),
                   "ranks_agree": same, "expected_std": SIGMA * CLIP}, f)
dist.destroy_process_group()
