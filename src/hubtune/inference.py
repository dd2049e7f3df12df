"""``hubtune eval`` and ``hubtune predict`` on a finished output folder (or a pulled repo)."""

from __future__ import annotations

from pathlib import Path

import torch

from hubtune.errors import DataError, RecipeError
from hubtune.export import load_exported


def _recipe(folder: Path, overrides: list[str] | None):
    import yaml

    from hubtune.recipe_yaml import deep_merge, parse_overrides
    from hubtune.validation import recipe_from_dict

    path = folder / "recipe.yaml"
    if not path.exists():
        raise RecipeError(f"{folder} has no recipe.yaml: is it a hubtune output folder?")
    data = yaml.safe_load(path.read_text())
    if overrides:
        data = deep_merge(data, parse_overrides(overrides))
    return recipe_from_dict(data, source=str(path))


def evaluate_output(folder: Path, split: str, overrides: list[str] | None = None) -> dict[str, float]:
    """Metrics of the exported model on ``split`` of the recipe's data."""
    from torch.utils.data import DataLoader

    from hubtune.data import build_data
    from hubtune.evaluation import evaluate_model

    recipe = _recipe(folder, overrides)
    model = load_exported(folder)
    data = build_data(recipe.data, model.preprocessing, model.head_spec, seed=recipe.seed,
                      splits=("train", split) if split != "train" else ("train",), train_transforms=False)
    target = {"validation": data.validation, "test": data.test, "train": data.train}.get(split)
    if target is None:
        raise DataError(f"split {split!r} is not available in {recipe.data.path or recipe.data.format}; "
                        f"set data.{split} in the recipe or pass data.{split}=... on the command line")
    loader = DataLoader(target, batch_size=recipe.train.eval_batch_size or recipe.train.batch_size,
                        collate_fn=data.collate_fn, num_workers=recipe.data.num_workers)
    return evaluate_model(model, loader, model.head_spec, recipe.eval.metrics, data.labels).metrics


@torch.no_grad()
def predict(folder: Path, inputs: list[str], top_k: int = 1) -> list[list[tuple[str, float]]]:
    """For each input (image path or text): the ``top_k`` labels with their probabilities."""
    from hubtune.data import predict_inputs

    model = load_exported(folder).eval()
    batch = predict_inputs(inputs, model.preprocessing)
    logits = model(batch).float()
    problem = model.head_spec.problem_type
    if problem == "regression":
        return [[("value", float(v))] for v in logits.reshape(len(inputs), -1)[:, 0]]
    probs = torch.sigmoid(logits) if problem == "multi_label_classification" else logits.softmax(-1)
    labels = model.labels or [str(i) for i in range(probs.shape[-1])]
    k = min(top_k, probs.shape[-1])
    values, idx = probs.topk(k, dim=-1)
    return [[(labels[i], float(p)) for p, i in zip(v.tolist(), ix.tolist(), strict=True)] for v, ix in zip(values, idx, strict=True)]


def predict_dense(folder: Path, inputs: list[str], out: Path, threshold: float = 0.0) -> list[dict]:
    """Dense heads (segmentation): write overlays, masks and ``predictions.json`` into ``out``."""
    if not 0.0 <= threshold < 1.0:
        raise DataError(f"--threshold {threshold}: a score threshold is in [0, 1)")
    model = load_exported(folder).eval()
    if model.head_spec.dense is None:
        raise DataError(f"{folder} holds a {model.head_spec.name} model; --out/--threshold are for dense models "
                        f"({', '.join(DENSE_TASKS)}): drop them to print labels")
    return model.head_spec.dense.predict_files(model, inputs, out, threshold)


DENSE_TASKS = ("semantic_segmentation", "object_detection")


def is_dense(folder: Path) -> bool:
    """Whether an output folder holds a dense model (read from ``hubtune.json``, no weights loaded)."""
    import json

    meta = folder / "hubtune.json"
    return meta.is_file() and json.loads(meta.read_text()).get("problem_type") in DENSE_TASKS
