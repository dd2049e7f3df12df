"""Training on Accelerate: the loop (:mod:`.trainer`), optimizers and schedules, checkpoints."""
