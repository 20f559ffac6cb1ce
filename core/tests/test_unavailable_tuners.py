"""ms-swift tuners TuneKite does not provide are refused with the reason and an alternative."""

from __future__ import annotations

import pytest

from tunekite.api import resolve
from tunekite.errors import ArgumentError


@pytest.mark.parametrize("flag", ["--tuner", "--train_type"])
def test_reft_is_refused_with_the_reason(flag: str) -> None:
    reason = r"Unknown tuner 'reft'.*pyreft.*not available yet.*use --tuner lora"
    with pytest.raises(ArgumentError, match=reason):
        resolve("sft", ["--model", "any-model", flag, "reft"])
