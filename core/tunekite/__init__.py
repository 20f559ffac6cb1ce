"""TuneKite: fine-tune, align, serve and export LLMs through a small core and plugins.

Plugins import from here and from `tunekite.api` only. This module stays light:
`tk --help` imports it.
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("tunekite")
"""Marks a plugin function as the implementation of a hook of `tunekite.hookspecs`."""

__all__ = ["__version__", "hookimpl"]
