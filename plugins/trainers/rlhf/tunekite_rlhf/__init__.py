"""Alignment trainers (`tk run rlhf --rlhf_type ...`) built on HF TRL.

Importing this package is light: TRL, torch and transformers load only when a run starts.
"""
