"""The Phi-3 chat template for TuneKite (`<|user|> ... <|end|>`)."""
