"""Where `make bench-peers` put each peer, and which versions it holds."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Peer:
    name: str
    venv: str
    distribution: str

    @property
    def bin(self) -> Path:
        return ROOT / self.venv / "bin"

    def installed(self) -> bool:
        return (ROOT / self.venv / ".installed").is_file()

    def versions(self) -> dict[str, str]:
        """The peer's own version and the libraries it trained with, read in its environment."""
        code = (
            "import importlib.metadata as m, json; print(json.dumps({d: m.version(d) for d in "
            f"({self.distribution!r}, 'torch', 'transformers', 'peft')}}))"
        )
        return json.loads(
            subprocess.run(
                [str(self.bin / "python"), "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )


SWIFT = Peer("ms-swift", ".venv-swift", "ms-swift")
LLAMAFACTORY = Peer("llamafactory", ".venv-llamafactory", "llamafactory")
PEERS = (SWIFT, LLAMAFACTORY)


def available(wanted: list[str]) -> list[Peer]:
    """The peers asked for; one that is not built stops the bench with the command that builds it."""
    chosen = [peer for peer in PEERS if peer.name in wanted]
    unknown = set(wanted) - {peer.name for peer in PEERS}
    if unknown:
        raise SystemExit(
            f"--peers: unknown {', '.join(sorted(unknown))} (known: {', '.join(p.name for p in PEERS)})"
        )
    missing = [peer.venv for peer in chosen if not peer.installed()]
    if missing:
        raise SystemExit(
            f"{', '.join(missing)} not built: run `make bench-peers` (or pass --peers with fewer names)"
        )
    return chosen
