"""Dense prediction: semantic segmentation and object detection (head specs, data formats, export layouts, overlays).

Each head spec registers through the ``hubtune.heads`` entry point with its hooks declared in
``HeadSpec.dense`` (a :class:`hubtune.contracts.DenseHooks`), so the engine and the face stay
task-agnostic: ``run`` asks ``spec.dense`` to ``prepare`` the model, ``build_data`` defers to its
``build_data``, evaluation to its streaming ``evaluate``, export and cards to its ``export`` and
``card_extra``.
"""
