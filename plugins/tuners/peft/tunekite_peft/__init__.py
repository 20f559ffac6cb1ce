"""peft's tuners other than LoRA, each a TuneKite tuner with its own argument group."""
