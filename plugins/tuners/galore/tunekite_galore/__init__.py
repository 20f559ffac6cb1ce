"""GaLore for TuneKite: the `galore` tuner, full fine-tuning through galore-torch's optimizers."""
