"""LongLoRA for TuneKite: the `longlora` tuner and its shifted sparse attention."""
