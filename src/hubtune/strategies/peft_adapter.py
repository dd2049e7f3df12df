"""``peft``: LoRA, IA3 and the other PEFT tuners by name, on transformers and timm backbones.

- transformers: the native ``AutoModelFor<Task>`` (``model.net``) is wrapped with
  ``get_peft_model`` (task type ``SEQ_CLS`` / ``TOKEN_CLS`` for text); its head modules are
  ``modules_to_save``, so they train and are saved with the adapter.
- timm: ``model.backbone`` is wrapped; ``model.head`` stays a trainable module.
- dense heads (smp segmentation): the encoder is wrapped, on the modules the head's
  ``DenseHooks.peft_targets`` names (ungrouped convolutions); ``adapter/`` is the adapter on the
  plain smp model with the decoder as ``modules_to_save`` (``DenseHooks.peft_adapter``). The default
  targets are the attention input projections (fused ``qkv`` of ViTs, ``query``/``value``...),
  else every Linear layer; name others with ``target_modules``.

Artifacts (:meth:`PeftStrategy.export`): ``adapter/`` is a plain PEFT adapter, head included,
that ``PeftModel.from_pretrained(base, "adapter")`` loads without hubtune (base: the original
``AutoModelFor<Task>.from_pretrained(base, num_labels=...)`` or ``timm.create_model(arch,
pretrained=True, num_classes=...)``). With ``merge: true`` the main model files are the merged
native model; with ``merge: false`` they hold the base weights and trained head, and the
adapter must be applied on top.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from hubtune.contracts import ParamGroup
from hubtune.errors import RecipeError
from hubtune.model import TransferModel, is_native_timm
from hubtune.strategies.base import STRATEGIES, BaseStrategy, split_decay

ADAPTER_DIR = "adapter"
_ATTENTION_INPUTS = ("qkv", "query", "value", "q_proj", "v_proj", "q", "v", "c_attn", "query_key_value")
_TASK_TYPES = {"AutoModelForSequenceClassification": "SEQ_CLS", "AutoModelForTokenClassification": "TOKEN_CLS"}


class PeftOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str = Field("lora", description="a PEFT tuner: lora, ia3, loha, lokr, adalora, vera, boft, ...")
    target_modules: list[str] | str | None = Field(None, description="module names or a regex (default: per model)")
    config: dict[str, Any] = Field(default_factory=dict, description="more fields of the PEFT config (r, lora_alpha...)")
    merge: bool = True

    @field_validator("method")
    @classmethod
    def _known(cls, v: str) -> str:
        from peft import PeftType

        if v.upper() not in PeftType.__members__:
            known = ", ".join(sorted(t.lower() for t in PeftType.__members__))
            raise ValueError(f"unknown PEFT method {v!r}; known: {known}")
        return v.lower()


def peft_config(options: PeftOptions, task_type: str | None, target_modules: Any, modules_to_save: list[str] | None) -> Any:
    """The PEFT config object for ``options.method``."""
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING
    from peft.utils import PeftType

    cls = PEFT_TYPE_TO_CONFIG_MAPPING[PeftType[options.method.upper()]]
    kwargs = {**options.config}
    if task_type:
        kwargs["task_type"] = task_type
    if target_modules is not None:
        kwargs.setdefault("target_modules", target_modules)
    if modules_to_save:
        kwargs["modules_to_save"] = modules_to_save
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise RecipeError(f"strategy.config: invalid options for PEFT {options.method}: {e}") from None


def timm_targets(backbone: nn.Module) -> list[str]:
    """Full names of the attention input projections, else of every Linear layer."""
    linears = [n for n, m in backbone.named_modules() if isinstance(m, nn.Linear)]
    attention = [n for n in linears if n.rsplit(".", 1)[-1] in _ATTENTION_INPUTS]
    if not (attention or linears):
        raise RecipeError("strategy.target_modules: this timm backbone has no Linear layer; name the modules to adapt")
    return attention or linears


def head_names(native: nn.Module) -> list[str]:
    """Names of the native model's children outside the base model that hold parameters."""
    base = native.base_model
    return [n for n, m in native.named_children() if m is not base and any(True for _ in m.parameters())]


@STRATEGIES.register("peft")
class PeftStrategy(BaseStrategy):
    """A PEFT adapter on the backbone plus a trained head."""

    name = "peft"
    Options = PeftOptions

    def setup(self, model: TransferModel) -> None:
        from peft import get_peft_model

        o = self.options
        if model.head_spec.dense is not None:  # smp: the encoder is wrapped (hubtune.dense)
            targets = o.target_modules or model.head_spec.dense.peft_targets(model.backbone)
            model.backbone = get_peft_model(model.backbone, peft_config(o, None, targets, None))
            for m in model.backbone.modules():  # the base stays the pretrained encoder, batch-norm statistics too
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.momentum = 0.0
            for p in model.head.parameters():
                p.requires_grad_(True)
        elif model.family == "transformers":
            task = _TASK_TYPES.get(model.head_spec.auto_class) if model.preprocessing.modality == "text" else None
            cfg = peft_config(o, task, o.target_modules, head_names(model.net))
            model.net = get_peft_model(model.net, cfg)
            model.net.peft_config["default"].base_model_name_or_path = model.info.get("base_model")
        elif model.family == "timm":
            cfg = peft_config(o, None, o.target_modules or timm_targets(model.backbone), None)
            model.backbone = get_peft_model(model.backbone, cfg)
            for p in model.head.parameters():
                p.requires_grad_(True)
        else:
            raise RecipeError("strategy: peft supports timm and transformers backbones")
        self.phase = f"peft:{o.method}"

    def build_groups(self, model: TransferModel, lr: float, weight_decay: float, head_lr_mult: float) -> list[ParamGroup]:
        adapter, head = [], []
        for name, p in model.named_parameters():
            is_head = "modules_to_save" in name or name.startswith("head.")
            (head if is_head else adapter).append((name, p))
        return split_decay(adapter, lr, weight_decay) + split_decay(head, lr * head_lr_mult, weight_decay)

    def export(self, model: TransferModel, out_dir: Path) -> dict[str, Any]:
        """Save ``adapter/`` (head included), then merge (or unload) so ``model`` is native again."""
        path = out_dir / ADAPTER_DIR
        if model.family == "transformers":
            model.net.save_pretrained(str(path))
            model.net = _unwrap(model.net, self.options.merge)
        elif model.head_spec.dense is not None:
            model.head_spec.dense.peft_adapter(model, model.backbone.peft_config["default"]).save_pretrained(str(path))
            model.backbone = _unwrap(model.backbone, self.options.merge)
        else:
            _native_timm_adapter(model, self.options).save_pretrained(str(path))
            model.backbone = _unwrap(model.backbone, self.options.merge)
        return {"name": self.name, "method": self.options.method, "adapter": ADAPTER_DIR, "merged": self.options.merge}


def _unwrap(peft_model: Any, merge: bool) -> nn.Module:
    return peft_model.merge_and_unload() if merge else peft_model.unload()


def _native_timm_adapter(model: TransferModel, options: PeftOptions) -> Any:
    """The adapter re-expressed on the native timm model (with its classifier as ``modules_to_save``)."""
    import timm
    from peft import get_peft_model

    if not is_native_timm(model):  # validation refuses head.hidden with peft on timm before training
        raise RecipeError("strategy: a PEFT adapter for timm needs the linear head (head.hidden: [])")
    linear = model.final_linear()
    classifier = model.info.get("classifier", "classifier")
    native = timm.create_model(model.info["architecture"], pretrained=False, num_classes=model.num_labels,
                               **model.info.get("model_kwargs", {}))
    cfg = copy.deepcopy(model.backbone.peft_config["default"])
    cfg.modules_to_save = [classifier]
    wrapped = get_peft_model(native, cfg)
    wrapped.peft_config["default"].base_model_name_or_path = model.info.get("base_model")
    state = {k: v for k, v in model.backbone.state_dict().items()}
    prefix = f"base_model.model.{classifier}."
    for kind in ("original_module", "modules_to_save.default"):
        state[f"{prefix}{kind}.weight"], state[f"{prefix}{kind}.bias"] = linear.weight, linear.bias
    missing, unexpected = wrapped.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RecipeError(f"cannot map the adapter onto timm {model.info['architecture']}: "
                          f"missing {missing[:4]}, unexpected {unexpected[:4]}")
    return wrapped
