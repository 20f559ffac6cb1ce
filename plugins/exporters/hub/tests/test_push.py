"""`--push_to_hub` through the real `huggingface_hub` client against a local fake of the
hub's HTTP API (this machine is offline): the repo is created (private when asked), the
folder lands in one commit with the message given, an existing repo needs --exist_ok,
and an unreachable hub is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunekite.api import ArgumentError, TunekiteError, start


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    """An exported model folder: what a previous step (merge, bnb) leaves."""
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    (model / "model.safetensors").write_bytes(b"\x00weights\x01")
    (model / "args.json").write_text('{"hub_token": "hf_secret"}')  # as a merge copies the run's
    (model / ".staging-abc").mkdir()  # an unfinished step's leftovers stay home
    (model / ".staging-abc" / "half.bin").write_bytes(b"x")
    return model


def push(model: Path, *extra: str) -> Path:
    argv = ["--model", str(model), "--push_to_hub", "true", "--hub_model_id", "tester/kite"]
    return start("export", [*argv, "--hub_token", "hf_secret", "--output_dir", "out", *extra])


def test_creates_a_private_repo_and_uploads_the_folder_in_one_commit(folder, hub) -> None:
    result = push(folder, "--hub_private_repo", "true", "--commit_message", "Kite v1")
    assert result == folder
    repo = hub.repos["tester/kite"]
    assert repo["private"] is True
    (commit,) = repo["commits"]
    assert commit["summary"] == "Kite v1"
    assert commit["files"] == {
        "config.json": b'{"model_type": "llama"}',
        "model.safetensors": b"\x00weights\x01",
    }
    assert set(hub.authorizations) == {"Bearer hf_secret"}  # the token went only where it belongs


def test_an_existing_repo_needs_exist_ok(folder, hub) -> None:
    push(folder)
    with pytest.raises(ArgumentError, match=r"tester/kite already exists on .*pass --exist_ok true"):
        push(folder, "--commit_message", "again")
    push(folder, "--exist_ok", "true", "--commit_message", "again")
    assert [c["summary"] for c in hub.repos["tester/kite"]["commits"]] == ["update files", "again"]
    assert hub.repos["tester/kite"]["private"] is False


def test_unreachable_hub_is_one_line(folder, hub) -> None:
    endpoint = hub.endpoint
    hub.close()  # nothing listens there any more
    with pytest.raises(TunekiteError) as caught:
        push(folder)
    message = str(caught.value)
    assert (
        "\n" not in message and f"cannot reach {endpoint}" in message and "hf upload tester/kite" in message
    )


def test_needs_a_repo_id(folder) -> None:
    with pytest.raises(ArgumentError, match="pass --hub_model_id"):
        start("export", ["--model", str(folder), "--push_to_hub", "true", "--output_dir", "out"])
