"""Chat templates: a light format description (`ChatFormat`) and the engine that encodes with it."""

from tunekite.templates.format import ChatFormat

__all__ = ["ChatFormat"]
