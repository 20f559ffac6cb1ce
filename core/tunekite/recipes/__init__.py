"""Training recipes: each reads top to bottom in one module."""
