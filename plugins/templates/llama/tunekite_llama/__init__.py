"""Llama chat templates for TuneKite (Llama-2 `[INST]`, Llama 3 / 3.1 headers)."""
