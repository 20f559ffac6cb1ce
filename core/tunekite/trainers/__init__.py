"""Core's trainers (kind `trainers`): each recipe reads top to bottom in one module."""
