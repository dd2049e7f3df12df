"""Before training: how far apart two domains are (``hubtune discrepancy``) and which source checkpoint
transfers best to a target (``hubtune rank``), on features of pretrained or hubtune-trained models.

The statistics themselves are in :mod:`hubtune.adaptation.discrepancy` and
:mod:`hubtune.adaptation.transferability`; this package extracts the features and runs the commands.
"""
