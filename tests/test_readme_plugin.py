"""The README's "Writing a plugin" example works as written."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_plugin(tmp_path: Path) -> Path:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Writing a plugin", 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    path = tmp_path / "my_reward.py"
    path.write_text("\n".join(line[3:] for line in code.splitlines()))
    return path


def test_readme_reward_registers_and_scores(tk_plugins, tmp_path: Path) -> None:
    host = tk_plugins.host
    host.add_file(_readme_plugin(tmp_path))
    spec = host.registry("rewards").get("short")
    reward = spec.load()(spec.args(short_max_chars=3))
    assert reward(["abc", "abcd"]) == [1.0, 0.0]


def test_readme_reward_is_listed_by_tk(tk, tmp_path: Path) -> None:
    result = tk("list", "rewards", "--custom_register_path", str(_readme_plugin(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "short" in result.stdout and "1 for short completions" in result.stdout
