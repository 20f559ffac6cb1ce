"""Which registered template a tokenizer's own Jinja chat template is, by its markers.

Below both resolvers that use it (templates.resolve picks a run's template, models.resolve
a folder's model type), so neither imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunekite.plugin_host import PluginHost


def detect_template(chat_template: str | None, host: PluginHost) -> str | None:
    """The registered template whose markers all appear in a Jinja chat template (most markers wins)."""
    if not chat_template:
        return None
    best: tuple[int, str] | None = None
    for entry in host.registry("templates"):
        markers = getattr(entry.spec, "chat_template_markers", ())
        if markers and all(m in chat_template for m in markers):
            candidate = (len(markers), entry.spec.name)
            best = max(best, candidate) if best else candidate
    return best[1] if best else None
