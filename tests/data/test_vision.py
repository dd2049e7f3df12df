"""Image data: imagefolder, corrupt files, built-in digit sets, predict_inputs."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from hubtune.contracts import Preprocessing
from hubtune.data import build_data, load_split_table, predict_inputs
from hubtune.errors import DataError
from hubtune.heads import HEADS
from hubtune.recipe import DataConfig

CLS = HEADS.get("classification")


def test_hymenoptera_train_val(hymenoptera: Path, image_pre: Preprocessing) -> None:
    cfg = DataConfig(format="imagefolder", path=str(hymenoptera), validation="val", max_eval_samples=20)
    bundle = build_data(cfg, image_pre, CLS, seed=0)
    assert bundle.labels == ["ants", "bees"] and bundle.num_labels == 2
    assert len(bundle.train) == 245 and len(bundle.validation) == 20 and bundle.test is None
    assert bundle.info["splits"] == {"train": 245, "validation": 20}
    batch = bundle.collate_fn([bundle.validation[i] for i in range(3)])
    assert batch["pixel_values"].shape == (3, 3, 32, 32) and batch["pixel_values"].dtype == torch.float32
    assert batch["labels"].dtype == torch.long
    assert set(bundle.collate_fn([bundle.train[i] for i in (0, 244)])["labels"].tolist()) == {0, 1}
    pickle.loads(pickle.dumps(bundle.train))  # lazy transform survives worker processes


def test_image_size_override_and_eval_transform(hymenoptera: Path, image_pre: Preprocessing) -> None:
    cfg = DataConfig(format="imagefolder", path=str(hymenoptera / "val"), validation=None, image_size=48,
                     max_train_samples=8)
    bundle = build_data(cfg, image_pre, CLS, seed=0, splits=("train",), train_transforms=False)
    assert bundle.validation is None and len(bundle.train) == 8
    first, again = bundle.train[0]["pixel_values"], bundle.train[0]["pixel_values"]
    assert first.shape == (3, 48, 48) and torch.equal(first, again)  # no augmentation


@pytest.mark.parametrize("policy", ["skip", "error"])
def test_corrupt_image(tmp_path: Path, make_images, image_pre: Preprocessing, policy: str) -> None:
    paths = make_images(tmp_path / "train", {"cat": 3, "dog": 3}, ext="jpg")
    paths[1].write_bytes(paths[1].read_bytes()[:200])  # truncated JPEG
    (tmp_path / "train" / "dog" / "junk.jpg").write_bytes(b"not an image at all")
    cfg = DataConfig(format="imagefolder", path=str(tmp_path), validation=None, validation_size=0.3,
                     on_bad_image=policy)
    if policy == "error":
        with pytest.raises(DataError, match=r"unreadable image .*\.jpg"):
            build_data(cfg, image_pre, CLS, seed=0)
        return
    with pytest.warns(UserWarning, match=r"skipped \d unreadable image") as record:
        bundle = build_data(cfg, image_pre, CLS, seed=0)
    text = " ".join(str(r.message) for r in record)
    assert "1.jpg" in text or "junk.jpg" in text
    assert len(bundle.train) + len(bundle.validation) == 5
    batch = bundle.collate_fn([bundle.train[i] for i in range(len(bundle.train))])
    assert torch.isfinite(batch["pixel_values"]).all()


def test_mnist_builtin_split() -> None:
    train = load_split_table(DataConfig(format="mnist"), "train")
    test = load_split_table(DataConfig(format="mnist", test="test"), "test")
    assert len(train) == 4000 and len(test) == 1000
    assert sorted(set(test["label"])) == list(range(10))


def test_mnist_vector(image_pre: Preprocessing) -> None:
    cfg = DataConfig(format="mnist", validation=None, test="test", max_train_samples=64, max_eval_samples=16)
    bundle = build_data(cfg, Preprocessing("vector"), CLS, seed=1)
    assert bundle.labels == [str(i) for i in range(10)]
    assert bundle.info["validation_from_train"] and len(bundle.test) == 16
    batch = bundle.collate_fn([bundle.train[i] for i in range(8)])
    x = batch["pixel_values"]
    assert x.shape == (8, 1, 28, 28) and x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.5


def test_digits_as_image_uses_timm_transform(image_pre: Preprocessing) -> None:
    cfg = DataConfig(format="digits", validation="train[1500:]", train="train[:1500]", max_train_samples=10)
    bundle = build_data(cfg, image_pre, CLS, seed=0)
    assert len(bundle.validation) == 297 and not bundle.info["validation_from_train"]
    assert bundle.train[0]["pixel_values"].shape == (3, 32, 32)
    raw = build_data(cfg, Preprocessing("vector"), CLS, seed=0, splits=("train",))
    assert raw.train[0]["pixel_values"].shape == (1, 8, 8)


def test_predict_inputs_images(hymenoptera: Path, image_pre: Preprocessing) -> None:
    files = sorted((hymenoptera / "val" / "bees").glob("*.jpg"))[:2]
    batch = predict_inputs([str(f) for f in files], image_pre)
    assert batch["pixel_values"].shape == (2, 3, 32, 32)
    grey = predict_inputs([str(files[0])], Preprocessing("vector", {"input_size": (1, 8, 8)}))
    assert grey["pixel_values"].shape == (1, 1, 8, 8)
    with pytest.raises(DataError, match=r"missing\.jpg"):
        predict_inputs([str(hymenoptera / "missing.jpg")], image_pre)


def test_transformers_image_processor(tmp_path: Path, make_images) -> None:
    from transformers import ViTImageProcessor

    make_images(tmp_path, {"a": 2, "b": 2})
    pre = Preprocessing("image", image_processor=ViTImageProcessor(size={"height": 24, "width": 24}))
    bundle = build_data(DataConfig(format="imagefolder", path=str(tmp_path), validation=None, validation_size=0.5),
                        pre, CLS, seed=0)
    batch = bundle.collate_fn([bundle.train[0], bundle.validation[0]])
    assert batch["pixel_values"].shape == (2, 3, 24, 24)


def test_large_jpegs_decode_at_reduced_scale_without_changing_what_the_model_sees() -> None:
    """Eval transforms decode a big JPEG at 1/4 scale (DCT scaling), and the model input barely moves."""
    import io

    import numpy as np
    from PIL import Image

    from hubtune.contracts import Preprocessing
    from hubtune.data.vision import open_image, vision_transform

    smooth = Image.fromarray((np.random.default_rng(0).random((15, 20, 3)) * 255).astype("uint8")).resize((2000, 1500))
    buf = io.BytesIO()
    smooth.save(buf, "JPEG", quality=90)
    value = {"bytes": buf.getvalue(), "path": None}
    pre = Preprocessing("image", {"input_size": (3, 224, 224), "crop_pct": 0.875, "interpolation": "bicubic",
                                  "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)})
    evaluation = vision_transform(pre, training=False)
    assert evaluation.draft == 257 and vision_transform(pre, training=True).draft == 448
    assert open_image(value, "RGB", evaluation.draft).size == (500, 375)  # shorter side still >= 257
    assert open_image(value, "RGB").size == (2000, 1500)
    fast = evaluation({"image": [value]})["pixel_values"][0]
    evaluation.draft = None
    full = evaluation({"image": [value]})["pixel_values"][0]
    assert fast.shape == full.shape == (3, 224, 224)
    assert float((fast - full).abs().mean()) < 0.05 * float(full.abs().mean())
