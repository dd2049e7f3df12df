"""Data loading with ``datasets``: splits, columns, labels, transforms and collation.

Contract used by the trainer, the CLI and the adaptation code::

    bundle = build_data(recipe.data, backbone.preprocessing, head_spec, seed=recipe.seed)
    bundle.train / bundle.validation / bundle.test   # torch Datasets (or None), items are dicts
    bundle.collate_fn(list_of_items) -> dict[str, Tensor]  # model inputs + "labels"
    bundle.labels        # label names (index = id), None for regression
    bundle.num_labels
"""
