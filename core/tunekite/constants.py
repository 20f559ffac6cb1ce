"""Values every layer agrees on, in a module that imports nothing."""

IGNORE_INDEX = -100
"""The label of a token the loss skips (PyTorch's and transformers' convention)."""

DEFAULT_ADAPTER = "default"
"""peft's name for an adapter loaded or created without one."""
