"""Dense prediction: semantic segmentation (a head spec, its data format, export layout and overlays).

The head spec registers through the ``hubtune.heads`` entry point, so the engine and the face stay
task-agnostic: ``run`` asks the spec to ``prepare`` the model, ``build_data`` defers to its
``build_data``, evaluation to its streaming ``evaluate``, export and cards to its ``export`` and
``card_extra``.
"""
