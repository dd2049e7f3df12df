"""Knowledge distillation for the ``distill`` strategy: the teacher, the student's layers, the KD objective.

:func:`resolve_teacher` finds the teacher's folder (an output folder, a repo of hubtune's hub or a
transformers classification checkpoint) before any weight loads; :func:`build_distillation` loads
it, checks it fits the student (labels, tokenizer or image preprocessing), builds the student from
``student_layers`` and returns the objective the Trainer calls in place of the supervised loss
(``objective(model, batch) -> loss``, as adaptation does). With un-augmented data (text, or
``data.augment: false``) each example's teacher outputs are computed once and cached, keyed by the
example's content (real tokens or pixels), so a reshuffled, re-padded batch still hits.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hubtune.errors import CheckpointError, RecipeError
from hubtune.model import TransferModel
from hubtune.recipe import Recipe
from hubtune.strategies.distill import Distill, DistillOptions


def resolve_teacher(spec: str) -> Path:
    """The teacher's local folder: a path as is, else a hub repo ``ns/name[@rev]`` pulled (verified)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    from hubtune.hub import resolve_checkpoint

    try:
        folder = Path(resolve_checkpoint(spec))
    except Exception as e:
        raise CheckpointError(
            f"strategy.teacher: {spec!r} is neither a folder nor a repo of the hub ({str(e).splitlines()[0][:200]}); "
            "point it at a finished hubtune output folder, a pushed repo id or a transformers checkpoint") from None
    if not folder.is_dir():
        raise CheckpointError(f"strategy.teacher: {spec!r} is not a folder; give an output folder or a repo id")
    return folder


def load_teacher(folder: Path) -> TransferModel:
    """A hubtune output folder (``hubtune.json``) or a plain transformers classification checkpoint, in eval mode."""
    from hubtune.export import META_FILE, load_exported

    if (folder / META_FILE).exists():
        return load_exported(folder).eval()
    config = folder / "config.json"
    archs = (json.loads(config.read_text()).get("architectures") or []) if config.exists() else []
    if not any(a.endswith("ForSequenceClassification") for a in archs):
        raise CheckpointError(f"strategy.teacher: {folder} has no {META_FILE} and is not a transformers "
                              "sequence-classification checkpoint; give a finished hubtune output folder")
    from transformers import AutoModelForSequenceClassification

    from hubtune.backbones.transformers_backbone import _preprocessing, transformers_blocks
    from hubtune.contracts import Backbone
    from hubtune.heads import HEADS
    from hubtune.recipe import HeadConfig

    native = AutoModelForSequenceClassification.from_pretrained(str(folder))
    n = native.config.num_labels
    labels = [native.config.id2label[i] for i in range(n)]
    backbone = Backbone(native.base_model, n, _preprocessing(str(folder), None, native.config, False),
                        "transformers", transformers_blocks(native.base_model), {"architecture": native.config.model_type})
    head = "multilabel" if native.config.problem_type == "multi_label_classification" else "classification"
    return TransferModel(backbone, HEADS.get(head), n, labels, HeadConfig(type=head), head=native).eval()


# --------------------------------------------------------------------------- compatibility and layers

def check_compatible(teacher: TransferModel, student: TransferModel, opts: DistillOptions) -> None:
    """Same task, labels and inputs; hidden-state matching and layer copies need transformers models."""
    problems = []
    if teacher.head_spec.problem_type != student.head_spec.problem_type:
        problems.append(f"the teacher solves {teacher.head_spec.problem_type}, the student {student.head_spec.problem_type}")
    if teacher.num_labels != student.num_labels or (teacher.labels and student.labels and teacher.labels != student.labels):
        problems.append(f"the teacher's labels {teacher.labels} differ from the data's {student.labels} (same names, same order)")
    problems += _input_problems(teacher, student)
    layered = opts.hidden_weight > 0 or (opts.student_layers and opts.init == "teacher")
    if layered and (teacher.family != "transformers" or student.family != "transformers"):
        problems.append("hidden_weight and student_layers with init: teacher need transformers teacher and student")
    elif layered and _hidden_size(teacher) != _hidden_size(student):
        problems.append(f"hidden sizes differ (teacher {_hidden_size(teacher)}, student {_hidden_size(student)}); "
                        "set hidden_weight: 0, or build the student from the teacher's layers")
    if opts.student_layers and opts.init == "teacher" and teacher.info.get("architecture") != student.info.get("architecture"):
        problems.append("init: teacher copies the teacher's layers: the backbone must be the teacher's architecture")
    if problems:
        raise CheckpointError("strategy.teacher does not fit the student: " + "; ".join(problems))


def _hidden_size(model: TransferModel) -> int | None:
    return getattr(model.net.config, "hidden_size", None) if model.family == "transformers" else model.num_features


def _input_problems(teacher: TransferModel, student: TransferModel) -> list[str]:
    t, s = teacher.preprocessing, student.preprocessing
    if t.modality != s.modality:
        return [f"the teacher reads {t.modality}, the student {s.modality}"]
    if t.tokenizer is not None and s.tokenizer is not None and t.tokenizer.get_vocab() != s.tokenizer.get_vocab():
        return ["the teacher's tokenizer differs from the student's (the input ids would mean other words)"]
    keys = ("input_size", "mean", "std")
    tc, sc = ({k: list(cfg.get(k) or []) for k in keys} for cfg in (t.data_config, s.data_config))
    if t.modality == "image" and tc != sc:
        return [f"image preprocessing differs (teacher {tc}, student {sc}); set data.image_size or pick a matching student"]
    return []


def encoder_layers(base: nn.Module) -> tuple[nn.Module, str, nn.ModuleList]:
    """``(parent, attribute, layers)``: the ModuleList of a transformers model's ``num_hidden_layers`` blocks."""
    n = getattr(base.config, "num_hidden_layers", None)
    for name, module in base.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            parent, _, attr = name.rpartition(".")
            return base.get_submodule(parent) if parent else base, attr, module
    raise CheckpointError(f"cannot find the {n} encoder layers of this {base.config.model_type} model for student_layers")


def select_layers(student: TransferModel, source: nn.Module, layers: list[int]) -> None:
    """Make ``student.net`` keep ``layers`` of ``source`` (a native transformers model) in order."""
    _, _, available = encoder_layers(source.base_model)
    if layers[-1] >= len(available):
        raise RecipeError(f"strategy.student_layers: {layers} but the source model has {len(available)} layers "
                          f"(0-{len(available) - 1})")
    if source is not student.net:
        student.net = copy.deepcopy(source).train().requires_grad_(True)
    parent, attr, current = encoder_layers(student.net.base_model)
    kept = nn.ModuleList(current[i] for i in layers)
    for new_idx, layer in enumerate(kept):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_idx
    setattr(parent, attr, kept)
    student.net.config.num_hidden_layers = len(layers)
    from hubtune.backbones.transformers_backbone import transformers_blocks

    prefix = f"net.{student.net.base_model_prefix}."
    student.blocks = [[prefix + n for n in g] for g in transformers_blocks(student.net.base_model)]


def num_layers(model: TransferModel) -> int | None:
    return getattr(getattr(model.net, "config", None), "num_hidden_layers", None) if model.family == "transformers" else None


# --------------------------------------------------------------------------- the objective

class TeacherCache:
    """Teacher outputs per example: logits (float32) and real-token last hidden states (float16), on the CPU."""

    def __init__(self) -> None:
        self.store: dict[bytes, tuple[Tensor, Tensor | None]] = {}
        self.hits = self.misses = 0

    @staticmethod
    def keys(batch: dict[str, Tensor]) -> list[bytes]:
        if "input_ids" in batch:
            ids, mask = batch["input_ids"].cpu(), _mask(batch).cpu()
            rows = [ids[i][mask[i]] for i in range(ids.shape[0])]
        else:
            rows = list(batch["pixel_values"].detach().cpu())
        return [hashlib.blake2b(r.contiguous().numpy().tobytes(), digest_size=16).digest() for r in rows]


def _mask(batch: dict[str, Tensor]) -> Tensor:
    if "attention_mask" in batch:
        return batch["attention_mask"].bool()
    return torch.ones_like(batch["input_ids"], dtype=torch.bool)


class DistillObjective:
    """``objective(model, batch) -> loss``: task loss, logit KD and (optionally) last-hidden-state cosine loss."""

    def __init__(self, teacher: TransferModel | None, opts: DistillOptions, label_smoothing: float = 0.0,
                 cache: bool = False) -> None:
        self.teacher, self.opts, self.label_smoothing = teacher, opts, label_smoothing
        self.cache = TeacherCache() if cache and teacher is not None else None
        self.teacher_calls = 0
        self.report: dict[str, Any] = {}  # the strategy's card report (cache counts are added here)

    def __call__(self, model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        core: TransferModel = getattr(model, "module", model)
        logits, hidden = self._student(model, core, batch)
        o = self.opts
        loss = core.head_spec.loss(logits, batch["labels"], self.label_smoothing) * (1.0 - o.alpha)
        if self.teacher is None or (o.alpha == 0 and o.hidden_weight == 0):
            return loss
        t_logits, t_hidden = self.teacher_outputs(batch)
        if o.alpha > 0:
            loss = loss + o.alpha * kd_loss(logits.float(), t_logits.to(logits.device), core.head_spec.problem_type,
                                            o.temperature)
        if o.hidden_weight > 0 and hidden is not None and t_hidden is not None:
            loss = loss + o.hidden_weight * hidden_loss(hidden.float(), t_hidden.to(hidden.device).float(), _mask(batch))
        return loss

    def _student(self, model: nn.Module, core: TransferModel, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        if self.opts.hidden_weight == 0 or core.family != "transformers":
            return model(batch), None
        captured: list[Tensor] = []
        handle = core.net.base_model.register_forward_hook(lambda m, a, out: captured.append(out[0]))
        try:
            logits = model(batch)
        finally:
            handle.remove()
        return logits, captured[0]

    @torch.no_grad()
    def teacher_outputs(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """Teacher logits and last hidden states for ``batch`` (from the cache where it has them)."""
        if self.cache is None:
            return self._run_teacher(batch)
        keys = self.cache.keys(batch)
        todo = [i for i, k in enumerate(keys) if k not in self.cache.store]
        if todo:
            sub = {k: v[todo] for k, v in batch.items() if k != "labels"}
            logits, hidden = self._run_teacher(sub)
            mask = _mask(sub) if hidden is not None else None
            for j, i in enumerate(todo):
                h = hidden[j][mask[j]].half().cpu() if hidden is not None and mask is not None else None
                self.cache.store[keys[i]] = (logits[j].float().cpu(), h)
        self.cache.misses += len(todo)
        self.cache.hits += len(keys) - len(todo)
        self.report["teacher_cache_hits"], self.report["teacher_cache_misses"] = self.cache.hits, self.cache.misses
        return self._gather(batch, keys)

    def _gather(self, batch: dict[str, Tensor], keys: list[bytes]) -> tuple[Tensor, Tensor | None]:
        rows = [self.cache.store[k] for k in keys]  # type: ignore[union-attr]
        logits = torch.stack([r[0] for r in rows])
        if rows[0][1] is None:
            return logits, None
        mask = _mask(batch).cpu()
        hidden = torch.zeros(*mask.shape, rows[0][1].shape[-1])
        for i, (_, h) in enumerate(rows):
            hidden[i][mask[i]] = h.float()  # type: ignore[union-attr]
        return logits, hidden

    def _run_teacher(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        teacher = self.teacher
        device = next(iter(batch.values())).device
        if next(teacher.parameters()).device != device:  # type: ignore[union-attr]
            teacher.to(device)  # type: ignore[union-attr]
        self.teacher_calls += 1
        if teacher.family != "transformers" or self.opts.hidden_weight == 0:  # type: ignore[union-attr]
            return teacher(batch), None  # type: ignore[misc]
        from hubtune.model import _model_inputs

        out = teacher.net(**_model_inputs(batch), output_hidden_states=True)  # type: ignore[union-attr]
        return out.logits, out.hidden_states[-1]

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore: the teacher is fixed and its cache refills."""


def kd_loss(student: Tensor, teacher: Tensor, problem_type: str, temperature: float) -> Tensor:
    """Hinton's soft-target loss, scaled by T² so its gradients keep their size across temperatures."""
    t = temperature
    if problem_type == "single_label_classification":
        return F.kl_div(F.log_softmax(student / t, -1), F.log_softmax(teacher.float() / t, -1),
                        reduction="batchmean", log_target=True) * t * t
    if problem_type == "multi_label_classification":
        return F.binary_cross_entropy_with_logits(student / t, torch.sigmoid(teacher.float() / t)) * t * t
    return F.mse_loss(student, teacher.float().view_as(student))


def hidden_loss(student: Tensor, teacher: Tensor, mask: Tensor) -> Tensor:
    """Mean ``1 − cos`` between student and teacher hidden states over the real tokens (DistilBERT's L_cos)."""
    cos = F.cosine_similarity(student, teacher, dim=-1)
    m = mask.to(cos.device).float()
    return ((1.0 - cos) * m).sum() / m.sum().clamp(min=1.0)


# --------------------------------------------------------------------------- wiring

def build_distillation(recipe: Recipe, model: TransferModel, strategy: Distill,
                       teacher_folder: Path | None) -> DistillObjective:
    """Load and check the teacher, build the student's layers, fill the card's report; the objective."""
    opts: DistillOptions = strategy.options  # type: ignore[assignment]
    teacher = load_teacher(teacher_folder) if teacher_folder is not None else None
    if teacher is not None:
        check_compatible(teacher, model, opts)
        for p in teacher.parameters():
            p.requires_grad_(False)
    before = num_layers(model)
    if opts.student_layers:
        if model.family != "transformers":
            raise RecipeError("strategy.student_layers: needs a transformers backbone; remove it for timm/custom")
        select_layers(model, teacher.net if opts.init == "teacher" and teacher else model.net, opts.student_layers)
    augmented = model.preprocessing.modality == "image" and recipe.data.augment
    cache = opts.cache_teacher if opts.cache_teacher is not None else not augmented
    objective = DistillObjective(teacher, opts, recipe.train.label_smoothing, cache=cache)
    objective.report = strategy.report = _report(opts, teacher, model, before, cache)
    return objective


def _report(opts: DistillOptions, teacher: TransferModel | None, student: TransferModel, before: int | None,
            cache: bool) -> dict[str, Any]:
    s_params = sum(p.numel() for p in student.parameters())
    out: dict[str, Any] = {"student_params": s_params, "student_layers": num_layers(student)}
    if opts.student_layers:
        source = before if opts.init == "backbone" or teacher is None else num_layers(teacher)
        out["layers_kept"] = f"{opts.student_layers} of the {opts.init}'s {source}"
    if teacher is not None:
        t_params = sum(p.numel() for p in teacher.parameters())
        out |= {"teacher": opts.teacher, "teacher_params": t_params, "teacher_layers": num_layers(teacher),
                "compression": f"{t_params / max(1, s_params):.2f}x fewer parameters", "teacher_cache": cache}
    return out
