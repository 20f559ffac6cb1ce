"""Local plugin files: listed by `tk list`, used by `tk run`, handed to spawned workers."""

from __future__ import annotations

import json
from pathlib import Path

LOCAL = '''
import subprocess
import sys
from dataclasses import dataclass

from tunekite.api import ChatFormat, TemplateSpec, TrainerSpec, arg, hookimpl

WORKER = (
    "import json, sys; from tunekite.api import registry; "
    "open(sys.argv[1], 'w').write(json.dumps(registry('templates').names()))"
)


@dataclass(kw_only=True)
class ProbeArguments:
    probe_out: str = arg("probe.json", help="where the spawned worker writes what it saw")


def probe(run):
    # a fresh interpreter, like a torchrun rank: it learns of the local plugin only
    # through the environment the run exported
    subprocess.run([sys.executable, "-c", WORKER, run.probe_out], check=True)


@hookimpl
def tk_register_templates(register):
    fmt = ChatFormat(name="my-local-template", user="", assistant_header="", assistant_end="")
    register(TemplateSpec(format=fmt, summary="from a local file", factory="json:dumps"))


@hookimpl
def tk_register_trainers(register):  # a trainer: it gets a run folder and args.json
    register(TrainerSpec(name="probe", summary="spawn a worker", args=ProbeArguments, factory=probe))
'''


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "my_plugins.py"
    path.write_text(LOCAL)
    return path


def test_list_shows_a_template_from_a_local_file(tk, tmp_path: Path) -> None:
    path = _write(tmp_path)
    assert "my-local-template" not in tk("list", "templates").stdout
    for option in ("--custom_register_path", "--external_plugins", "--custom-register-path"):
        result = tk("list", "templates", option, str(path))
        assert result.returncode == 0, result.stderr
        assert "my-local-template" in result.stdout and "my_plugins" in result.stdout


def test_run_records_local_plugins_and_workers_load_them(tk, tmp_path: Path) -> None:
    path = _write(tmp_path)
    out = tmp_path / "seen.json"
    result = tk(
        "run", "probe", "--external_plugins", str(path), "--probe_out", str(out),
        "--output_dir", str(tmp_path / "run"), "--add_version", "false",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "my-local-template" in json.loads(out.read_text())
    saved = json.loads((tmp_path / "run" / "args.json").read_text())
    assert saved["custom_register_path"] == [str(path.resolve())]
    assert any(p["location"] == str(path.resolve()) for p in saved["tunekite"]["plugins"])


def test_unknown_hook_in_a_local_file_is_rejected(tk, tmp_path: Path) -> None:
    path = tmp_path / "typo.py"
    path.write_text("def tk_register_template(register):\n    pass\n")
    result = tk("list", "templates", "--custom_register_path", str(path))
    assert result.returncode != 0
    assert "tk_register_template" in result.stderr and "tk_register_templates" in result.stderr
    assert str(path) in result.stderr
