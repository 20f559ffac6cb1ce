"""The one validate step after parsing: a bad value stops `resolve` with one line naming it,
in whichever group declares it; `--help` is never stopped by a value."""

from __future__ import annotations

import pytest

from tunekite.api import resolve
from tunekite.errors import ArgumentError
from tunekite.plugin_host import PluginHost


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost(env={})


@pytest.mark.parametrize(
    ("name", "argv", "message"),
    [
        ("infer", ["--write_batch_size", "0"], "--write_batch_size must be at least 1, got 0"),
        ("infer", ["--max_batch_size", "-2"], "--max_batch_size must be at least 1, got -2"),
        ("sft", ["--tuner", "full", "--max_steps", "0"], "--max_steps must be positive, or -1 to train"),
        ("sft", ["--learning_rate", "0"], "--learning_rate must be greater than 0, got 0.0"),
        ("sft", ["--tuner", "full", "--save_steps", "0"], "--save_steps must be at least 1, got 0"),
    ],
)
def test_a_bad_value_is_named(host, name, argv, message) -> None:
    with pytest.raises(ArgumentError) as raised:
        resolve(name, argv, host)
    assert str(raised.value).startswith(message)
    assert resolve(name, [*argv, "--help"], host)[1] is True


def test_epochs_may_be_zero_when_max_steps_decides(host) -> None:
    run, _ = resolve("sft", ["--tuner", "full", "--num_train_epochs", "0", "--max_steps", "5"], host)
    assert (run.num_train_epochs, run.max_steps) == (0.0, 5)
