"""Stand-in for torchaudio in .venv-llamafactory only (copied there by `make bench-peers`).

LLaMA-Factory imports torchaudio at module level for audio inputs; PyPI's torchaudio builds
pin torches other than the pinned CPU one. The bench has no audio, so any use says so."""


def __getattr__(name: str) -> object:
    raise AttributeError(
        f"torchaudio.{name}: torchaudio is a stub in this environment (the bench has no audio)"
    )
