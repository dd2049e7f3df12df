"""Search over recipes with Optuna: ``hubtune search`` (hyperparameters, strategies, source models) and
``hubtune select`` (transferability estimators, then short fine-tunes of the top candidates).

Modules: ``space`` (sampling, up-front checks), ``study`` (storage, sampler, pruner), ``trial`` and
``child`` (one process per trial), ``runner``, ``report``, ``select``, ``cli``. The recipe block's
schema is :mod:`hubtune.search_schema`.
"""
