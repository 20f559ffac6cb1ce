"""LoRA for TuneKite: peft's LoRA family behind the `lora` tuner."""
