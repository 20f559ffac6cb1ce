"""Core's non-training tasks (`tk run infer`, `tk run export`), registered like any plugin's."""
