"""Object detection: the box table checked before training, boxes moving with images, and a real run on the
raccoon photos from ImageNet EfficientNet-Lite0 (PyPI) to an export loaded by a plain loader without hubtune."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import hubtune
from hubtune.cli import main
from hubtune.dense.boxes import box_transform, read_boxes
from hubtune.errors import DataError
from hubtune.validation import recipe_from_dict

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "detection" / "raccoon.yaml"


def _copy(data_root: Path, dest: Path, n: int = 3) -> tuple[Path, list[dict]]:
    src = data_root / "raccoon"
    (dest / "images").mkdir(parents=True)
    with (src / "boxes.csv").open() as f:
        rows = list(csv.DictReader(f))
    names = sorted({r["filename"] for r in rows})[:n]
    for name in names:
        shutil.copy(src / "images" / name, dest / "images" / name)
    return dest, [r for r in rows if r["filename"] in names]


def _write(path: Path, rows: list[dict], fields: list[str]) -> None:
    with (path / "boxes.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _cfg(path: Path, **extra):
    return recipe_from_dict({"backbone": {"source": "timm", "name": "tf_efficientnet_lite0", "pretrained": False},
                             "head": {"type": "object_detection"},
                             "data": {"format": "detection", "path": str(path), **extra},
                             "eval": {"metrics": ["map_50"]}}).data


FIELDS = ["filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax"]


def test_box_formats_read_the_same_boxes(data_root, tmp_path):
    root, rows = _copy(data_root, tmp_path)
    _write(root, rows, FIELDS)
    xyxy, names = read_boxes(_cfg(root))
    assert names == ["raccoon"] and len(xyxy) == 3
    sizes = {r["filename"]: (float(r["width"]), float(r["height"])) for r in rows}
    for r in rows:
        x0, y0, x1, y1 = (float(r[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
        w, h = sizes[r["filename"]]
        r.update(cx=(x0 + x1) / 2 / w, cy=(y0 + y1) / 2 / h, w=(x1 - x0) / w, h=(y1 - y0) / h)
    _write(root, rows, ["filename", "class", "cx", "cy", "w", "h"])
    normalised, _ = read_boxes(_cfg(root, box_format="cxcywh", normalized_boxes=True))
    for a, b in zip(xyxy, normalised, strict=True):
        assert torch.allclose(a.boxes, b.boxes, atol=1e-3)


def test_a_coco_json_reads_the_same_boxes_as_the_csv(data_root, tmp_path):
    root, rows = _copy(data_root, tmp_path)
    _write(root, rows, FIELDS)
    from_csv, names = read_boxes(_cfg(root))
    files = sorted({r["filename"] for r in rows})
    coco = {"images": [{"id": i, "file_name": f} for i, f in enumerate(files)],
            "categories": [{"id": 7, "name": "raccoon"}],
            "annotations": [{"image_id": files.index(r["filename"]), "category_id": 7,
                             "bbox": [float(r["xmin"]), float(r["ymin"]), float(r["xmax"]) - float(r["xmin"]),
                                      float(r["ymax"]) - float(r["ymin"])]} for r in rows]}
    (root / "instances.json").write_text(json.dumps(coco))
    from_coco, coco_names = read_boxes(_cfg(root, annotations="instances.json", box_format="xyxy"))
    assert coco_names == names == ["raccoon"]
    for a, b in zip(from_csv, from_coco, strict=True):
        assert a.image == b.image and torch.allclose(a.boxes, b.boxes) and torch.equal(a.labels, b.labels)
    coco["annotations"][0]["category_id"] = 3
    (root / "instances.json").write_text(json.dumps(coco))
    with pytest.raises(DataError, match="unknown category_id 3"):
        read_boxes(_cfg(root, annotations="instances.json"))
    (root / "instances.json").write_text('{"images": []}')
    with pytest.raises(DataError, match="is not a COCO JSON"):
        read_boxes(_cfg(root, annotations="instances.json"))


def test_bad_tables_are_refused_with_every_problem(data_root, tmp_path):
    root, rows = _copy(data_root, tmp_path)
    bad = [dict(r) for r in rows]
    bad[0]["xmax"] = str(float(bad[0]["width"]) + 40)  # outside the image
    bad[1]["ymax"] = bad[1]["ymin"]  # no area
    bad.append({**rows[0], "filename": "ghost.jpg"})  # a row without an image
    extra = sorted((data_root / "raccoon" / "images").iterdir())[-1]
    shutil.copy(extra, root / "images" / extra.name)  # an image without a row
    _write(root, bad, FIELDS)
    with pytest.raises(DataError) as err:
        read_boxes(_cfg(root))
    text = str(err.value)
    for needle in ("lies outside the", "non-positive area", "ghost.jpg: in boxes.csv but not in images/",
                   f"{extra.name}: an image with no row"):
        assert needle in text, text
    _write(root, rows, FIELDS)
    (root / "images" / extra.name).unlink()
    with pytest.raises(DataError, match="class 'raccoon' is not in id2label"):
        read_boxes(_cfg(root, id2label={0: "dog"}))
    with pytest.raises(DataError, match="needs columns"):
        read_boxes(_cfg(root, box_format="xywh"))


def test_flip_and_resize_move_the_boxes():
    from torchvision import tv_tensors

    rgb = np.zeros((100, 200, 3), dtype=np.uint8)
    rgb[20:60, 10:50, 0] = 255  # a red box at x 10..50, y 20..60
    boxes = tv_tensors.BoundingBoxes(torch.tensor([[10.0, 20.0, 50.0, 60.0]]), format="XYXY", canvas_size=(100, 200))
    seen = set()
    for seed in range(8):
        torch.manual_seed(seed)
        pixels, target = box_transform(64, training=True)(Image.fromarray(rgb), {"boxes": boxes,
                                                                                 "labels": torch.tensor([0])})
        x0, y0, x1, y1 = target["boxes"][0].round().int().tolist()
        inside = pixels[0, y0 + 2:y1 - 2, x0 + 2:x1 - 2]
        assert inside.numel() and inside.mean() > 0.9  # the red square is where the box says
        seen.add(x0 < 32)
    assert seen == {True, False}  # both flipped and unflipped draws were checked


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("det") / "out"
    recipe = hubtune.load_recipe(RECIPE, {"train": {"epochs": 1, "batch_size": 4}, "seed": 0, "output_dir": str(out),
                                          "data": {"image_size": 128, "max_train_samples": 8, "max_eval_samples": 4}})
    return hubtune.train(recipe, overwrite=True)


PLAIN = """
import json, sys, torch
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor
sys.path.insert(0, sys.argv[1])
from load_detector import load_detector
model, id2label, offset = load_detector(sys.argv[1])
x = pil_to_tensor(Image.open(sys.argv[2]).convert("RGB").resize((128, 128), Image.BILINEAR)).float() / 255
with torch.no_grad():
    found = model([x])[0]
print(json.dumps({"hubtune": [m for m in sys.modules if m.startswith("hubtune")], "boxes": found["boxes"].tolist(),
                  "scores": found["scores"].tolist(), "labels": [id2label[int(c) - offset] for c in found["labels"]]}))
"""


def test_run_exports_a_detector_plain_code_loads(run, data_root):
    from hubtune.export import load_exported

    out = run.output_dir
    assert {"map", "map_50", "map_75"} <= set(run.metrics["validation"])
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "raccoon"} and config["timm_model"] == "tf_efficientnet_lite0"
    card = (out / "README.md").read_text()
    assert "## Detection" in card and "| raccoon |" in card and "load_detector" in card
    assert Image.open(out / "predictions_boxes.png").width >= 320
    image = sorted((data_root / "raccoon" / "images").iterdir())[0]
    proc = subprocess.run([sys.executable, "-c", PLAIN, str(out), str(image)], capture_output=True, text=True,
                          check=True)
    plain = json.loads(proc.stdout.strip().splitlines()[-1])
    assert plain["hubtune"] == []
    model = load_exported(out).eval()
    x = torch.from_numpy(np.asarray(Image.open(image).convert("RGB").resize((128, 128), Image.BILINEAR)).copy())
    ours = model({"pixel_values": (x.permute(2, 0, 1).float() / 255)[None], "labels": []})[0]
    assert len(ours["scores"]) == len(plain["scores"]) > 0
    assert torch.allclose(ours["scores"], torch.tensor(plain["scores"]), atol=1e-5)
    assert torch.allclose(ours["boxes"], torch.tensor(plain["boxes"]), atol=1e-3)


def test_predict_writes_boxes_and_json(run, data_root, tmp_path, capsys):
    images = [str(p) for p in sorted((data_root / "raccoon" / "images").iterdir())[:2]]
    assert main(["predict", str(run.output_dir), *images, "--out", str(tmp_path / "p"), "--threshold", "0.01"]) == 0
    assert "box(es)" in capsys.readouterr().out
    result = json.loads((tmp_path / "p" / "predictions.json").read_text())
    assert result["threshold"] == 0.01 and len(result["predictions"]) == 2
    for row in result["predictions"]:
        assert all(b["score"] >= 0.01 and b["label"] == "raccoon" for b in row["boxes"])
        assert Image.open(tmp_path / "p" / row["overlay"]).size == Image.open(row["image"]).size
