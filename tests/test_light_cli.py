"""The inspection commands never import torch, transformers or a plugin's heavy deps."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "peft", "accelerate", "datasets", "trl")

PROBE = """
import json, sys
from tunekite.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
sys.stdout.flush()
print("\\n@@" + json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["plugins"],
        ["plugins", "--json"],
        ["list", "tuners"],
        ["list", "models"],
        ["list", "templates"],
        ["run"],
        ["run", "sft", "--tuner", "lora", "--help"],
    ],
    ids=" ".join,
)
def test_command_imports_nothing_heavy(argv: list[str]) -> None:
    code = PROBE.format(argv=argv, heavy=HEAVY)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    marker = result.stderr.rsplit("@@", 1)
    assert len(marker) == 2, result.stderr
    assert json.loads(marker[1]) == [], f"tk {' '.join(argv)} imported heavy modules"
    assert result.stdout.strip(), "the command printed nothing"
