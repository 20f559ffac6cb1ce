"""GGUF model files and the named model smollm2-135m-instruct for TuneKite."""
