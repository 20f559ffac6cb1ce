"""Chat templates: a light format description (`ChatFormat`) and the encoder that uses it."""

from tunekite.templates.format import ChatFormat

__all__ = ["ChatFormat"]
