"""One shared backbone and one head per task.

:class:`MultiTaskModel` registers the backbone once (``backbone.*``) and each task's head under
``heads.<task>.*``; its ``forward(batch)`` runs the head named by ``batch["task"]``. Each task also has
a *view*: an ordinary :class:`~hubtune.model.TransferModel` over the same backbone module and that
task's head (for transformers, the native ``AutoModelFor<Task>`` whose base model *is* the shared
backbone), so the single-task export, evaluation and inference code works on a task unchanged. Views
are not registered as submodules: every parameter appears once in ``state_dict()``.

Strategies see the same interface as on a single-task model (``backbone_parameters``,
``head_parameters``, ``blocks``, ``backbone_module``...): all heads are "the head".
"""

from __future__ import annotations

from collections.abc import Iterator

from torch import Tensor, nn

from hubtune.contracts import Backbone, HeadSpec
from hubtune.errors import CheckpointError
from hubtune.model import TransferModel
from hubtune.recipe import HeadConfig

PREFIX = "backbone."


def build_views(backbone: Backbone, specs: list[HeadSpec], num_labels: list[int], labels: list[list[str] | None],
                heads: list[HeadConfig]) -> list[TransferModel]:
    """One :class:`TransferModel` per task, all over ``backbone.module`` (transformers: native models re-based)."""
    views = []
    for spec, n, names, cfg in zip(specs, num_labels, labels, heads, strict=True):
        view = TransferModel(backbone, spec, n, names, cfg)
        share_backbone(view, backbone.module)  # transformers: the native model got a copy of the base
        views.append(view)
    return views


def share_backbone(view: TransferModel, module: nn.Module) -> None:
    """Make ``module`` the backbone of ``view`` (transformers: the native model's base model)."""
    if view.family == "transformers":
        setattr(view.net, view.net.base_model_prefix, module)
    else:
        view.backbone = module


def _head_of(view: TransferModel) -> nn.Module:
    """The task's own modules: the head (timm/custom) or the native model's children other than its base."""
    if view.family != "transformers":
        return view.head
    base = view.net.base_model
    return nn.ModuleDict({name: m for name, m in view.net.named_children() if m is not base})


class MultiTaskModel(nn.Module):
    """``forward(batch)`` → logits of the head ``batch["task"]`` on the shared backbone."""

    def __init__(self, names: list[str], views: list[TransferModel]) -> None:
        super().__init__()
        first = views[0]
        self.task_names = list(names)
        self.family, self.info, self.preprocessing = first.family, first.info, first.preprocessing
        self.num_features = first.num_features
        self.head_spec, self.num_labels, self.labels = first.head_spec, first.num_labels, first.labels
        self.backbone = first.backbone_module()
        for view in views[1:]:
            if view.backbone_module() is not self.backbone:
                raise CheckpointError("multi-task views must share one backbone module")
        self.heads = nn.ModuleDict({name: _head_of(view) for name, view in zip(names, views, strict=True)})
        object.__setattr__(self, "_views", dict(zip(names, views, strict=True)))  # not submodules: no duplicates
        prefix = first._backbone_prefix
        self.blocks = [[PREFIX + n.removeprefix(prefix) for n in group] for group in first.blocks]
        self.frozen_backbone_eval = False

    def view(self, task: str) -> TransferModel:
        """The single-task model of ``task`` (shares this model's modules)."""
        if task not in self._views:
            raise KeyError(f"unknown task {task!r}; tasks: {', '.join(self.task_names)}")
        return self._views[task]

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.view(batch["task"])(batch)

    def train(self, mode: bool = True) -> MultiTaskModel:
        """Like ``nn.Module.train``; a frozen backbone may stay in eval mode (linear probe: fixed BN statistics)."""
        super().train(mode)
        if mode and self.frozen_backbone_eval:
            self.backbone.eval()
        return self

    # ------------------------------------------------------------------ what strategies use
    def backbone_module(self) -> nn.Module:
        return self.backbone

    def is_backbone_param(self, name: str) -> bool:
        return name.startswith(PREFIX)

    def backbone_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        return ((n, p) for n, p in self.named_parameters() if self.is_backbone_param(n))

    def head_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        return ((n, p) for n, p in self.named_parameters() if not self.is_backbone_param(n))

    def head_modules(self) -> list[nn.Module]:
        return list(self.heads.values())

    def final_linear(self) -> nn.Linear:
        return self.view(self.task_names[0]).final_linear()

    def count_parameters(self) -> tuple[int, int]:
        """``(trainable, total)`` parameter counts (the backbone once)."""
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return trainable, total

    def task_parameters(self, task: str) -> tuple[int, int]:
        """``(trainable, total)`` of one task's view (backbone + its head)."""
        return self.view(task).count_parameters()
