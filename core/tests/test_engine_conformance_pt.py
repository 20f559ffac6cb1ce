"""Core's pt engine passes the engine conformance suite every engine plugin runs."""

from __future__ import annotations

import pytest

from tunekite.testing import EngineConformance

pytest.importorskip("torch")


class TestPtEngine(EngineConformance):
    name = "pt"
