"""The Mistral-7B-Instruct chat template for TuneKite (`[INST] ... [/INST]`)."""
