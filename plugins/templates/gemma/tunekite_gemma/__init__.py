"""The Gemma chat template for TuneKite (`<start_of_turn>user ... <end_of_turn>`)."""
