"""DeepSeek chat templates for TuneKite (`<｜User｜> ... <｜Assistant｜>`)."""
