"""Core's pt engine passes the engine conformance suite every engine plugin runs."""

from __future__ import annotations

from tunekite.testing import EngineConformance


class TestPtEngine(EngineConformance):
    name = "pt"
