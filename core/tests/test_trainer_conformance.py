"""Core's trainers pass the trainer conformance suite: sft on conversations, pt on text."""

from __future__ import annotations

from typing import ClassVar

from tunekite.testing import TrainerConformance


class TestSft(TrainerConformance):
    name = "sft"


class TestPt(TrainerConformance):
    name = "pt"
    rows: ClassVar[list[dict]] = [{"text": f"the number {i} comes after {i - 1}."} for i in range(16)]
