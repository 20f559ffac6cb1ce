"""Ollama Modelfiles for TuneKite exports (`tk run export --to_ollama true`)."""
