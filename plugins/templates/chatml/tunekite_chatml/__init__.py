"""ChatML templates for TuneKite (`<|im_start|>role ... <|im_end|>`)."""
