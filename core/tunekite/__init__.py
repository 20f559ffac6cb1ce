"""TuneKite: fine-tune, align, serve and export LLMs through a small core and plugins.

Plugins import from here and from `tunekite.api` only. This module stays light:
`tk --help` imports it.
"""

import pluggy

__version__ = "0.1.0"

API_VERSION = 1
"""The plugin API's version: raised when a change breaks plugins (hooks, specs, or
`tunekite.api` names). A plugin declares the versions it was built for as its module's
`TUNEKITE_API` (an int or a tuple of ints); a plugin that does not list this one is
reported as incompatible and not loaded."""

hookimpl = pluggy.HookimplMarker("tunekite")
"""Marks a plugin function as the implementation of a hook of `tunekite.hookspecs`."""

__all__ = ["API_VERSION", "__version__", "hookimpl"]
