"""The GLM-4 chat template for TuneKite (`[gMASK]<sop><|user|> ... <|assistant|>`)."""
