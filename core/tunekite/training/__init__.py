"""Training on transformers' Trainer: argument mapping, loss, checkpoints, run outputs."""
