"""Data loading with ``datasets``: splits, columns, labels, transforms and collation.

Contract used by the trainer, the CLI and the adaptation code::

    bundle = build_data(recipe.data, backbone.preprocessing, head_spec, seed=recipe.seed)
    bundle.train / bundle.validation / bundle.test   # torch Datasets (or None), items are dicts
    bundle.collate_fn(list_of_items) -> dict[str, Tensor]  # model inputs + "labels"
    bundle.labels        # label names (index = id), None for regression
    bundle.num_labels

    load_split_table(recipe.data, "train")            # raw rows of one split (datasets.Dataset)
    predict_inputs(["a.jpg"], backbone.preprocessing)  # one batch of model inputs
"""

from hubtune.data.build import DataBundle, build_data, predict_inputs
from hubtune.data.loading import SplitNotFound, load_split_table

__all__ = ["DataBundle", "SplitNotFound", "build_data", "load_split_table", "predict_inputs"]
