"""Pushing TuneKite exports to the Hugging Face hub (`tk run export --push_to_hub true`)."""
