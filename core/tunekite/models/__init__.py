"""Model loading (the `models` hook): which spec handles `--model`, and loading through it.

Light to import: torch and transformers load only when a model or tokenizer does.
"""

from tunekite.models.loader import load_hf, load_model, load_tokenizer, local_model_path, model_folder
from tunekite.models.resolve import declared_template, resolve_model_spec

__all__ = [
    "declared_template",
    "load_hf",
    "load_model",
    "load_tokenizer",
    "local_model_path",
    "model_folder",
    "resolve_model_spec",
]
