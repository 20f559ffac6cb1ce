"""Issue 12 §2: secret arguments (`--hub_token`, deploy's `--api_key`, a plugin's own) are
used by the run and never written: not in args.json, the manifest's command line, or any
checkpoint. `--load_args` of such a run asks for the secret again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tunekite import hookimpl
from tunekite.api import resolve, start
from tunekite.arguments.fields import arg, fields_of
from tunekite.arguments.groups import ModelArguments
from tunekite.arguments.secrets import SECRET_GIVEN, redact_argv
from tunekite.registrations import TrainerSpec
from tunekite.tasks.arguments import DeployArguments

TOKEN = "hf_tOkEn4242secretvalue"


def files_holding(folder: Path, needle: str) -> list[Path]:
    """`grep -r needle folder`: every file whose bytes hold it."""
    return [p for p in folder.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_hub_token_and_api_key_are_declared_secret() -> None:
    assert next(f for f in fields_of(ModelArguments) if f.name == "hub_token").secret
    assert next(f for f in fields_of(DeployArguments) if f.name == "api_key").secret


def test_command_line_secrets_are_hidden_in_every_spelling() -> None:
    (field,) = [f for f in fields_of(ModelArguments) if f.name == "hub_token"]
    argv = [
        "--model",
        "m",
        "--hub_token",
        TOKEN,
        "--hub-token=" + TOKEN,
        "--hub_token=" + TOKEN,
        "--seed",
        "1",
    ]
    hidden = redact_argv(argv, [field])
    assert TOKEN not in " ".join(hidden)
    assert hidden == [
        "--model",
        "m",
        "--hub_token",
        SECRET_GIVEN,
        f"--hub-token={SECRET_GIVEN}",
        f"--hub_token={SECRET_GIVEN}",
        "--seed",
        "1",
    ]


def test_a_run_folder_its_checkpoints_and_manifest_never_hold_the_hub_token(tk, sft_argv, tmp_path) -> None:
    pytest.importorskip("tunekite_lora")
    pytest.importorskip("tunekite_chatml")
    out = tmp_path / "run"
    secret_options = ("--hub_token", TOKEN, f"--hub-token={TOKEN}")
    argv = sft_argv(out, "--max_steps", "2", "--save_steps", "1", *secret_options)
    result = tk("run", "sft", *argv, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    assert files_holding(out, TOKEN) == []
    assert json.loads((out / "args.json").read_text())["hub_token"] == SECRET_GIVEN
    assert json.loads((out / "checkpoint-2" / "args.json").read_text())["hub_token"] == SECRET_GIVEN
    assert SECRET_GIVEN in json.loads((out / "run_manifest.json").read_text())["command"]


def test_load_args_asks_for_the_secret_again(tiny_chat, tmp_path, monkeypatch, capsys) -> None:
    from tunekite.run_folder import write_args

    run, _ = resolve("sft", ["--model", str(tiny_chat[0]), "--tuner", "full", "--hub_token", TOKEN])
    assert run.hub_token == TOKEN  # the run itself has it
    write_args(run, tmp_path)
    monkeypatch.delenv("TUNEKITE_HUB_TOKEN", raising=False)
    reloaded, _ = resolve("sft", ["--load_args", str(tmp_path)])
    assert reloaded.hub_token is None
    notice = capsys.readouterr().err.strip().splitlines()
    assert notice == [
        f"note: {tmp_path / 'args.json'} records that --hub_token was given, but secrets are not saved; "
        "pass --hub_token or set TUNEKITE_HUB_TOKEN if this run needs it"
    ]
    monkeypatch.setenv("TUNEKITE_HUB_TOKEN", "from-env")
    assert resolve("sft", ["--load_args", str(tmp_path)])[0].hub_token == "from-env"
    assert resolve("sft", ["--load_args", str(tmp_path), "--hub_token", "cli"])[0].hub_token == "cli"
    assert capsys.readouterr().err == ""


@dataclass(kw_only=True)
class VaultArguments:
    vault_key: str | None = arg(None, secret=True, help="a plugin's own secret")
    vault_name: str = arg("v", help="not secret")


def test_a_plugin_declared_secret_is_not_written(tk_plugins, tmp_path) -> None:
    @hookimpl
    def tk_register_trainers(register):
        register(TrainerSpec(name="vault", summary="records", args=VaultArguments, factory=lambda run: run))

    host = tk_plugins.add(type("P", (), {"tk_register_trainers": staticmethod(tk_register_trainers)}))
    run = start("vault", ["--output_dir", str(tmp_path / "o"), "--vault_key", TOKEN], host)
    assert run.vault_key == TOKEN
    saved = json.loads((run.output_dir / "args.json").read_text())
    assert (saved["vault_key"], saved["vault_name"]) == (SECRET_GIVEN, "v")
    assert files_holding(tmp_path, TOKEN) == []
