"""`memory(GiB)` in the training logs: the peak reserved on the model's own CUDA devices,
nothing on a CPU. No GPU here, so the devices are stand-ins and torch's counter is replaced;
what is tested is which devices are asked and what reaches the log and `logging.jsonl`."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from tunekite.training.memory_log import PeakMemoryLog
from tunekite.training.outputs import JsonlLogger, standard_callbacks


class _OnDevices:
    """A model whose parameters sit on the given devices."""

    def __init__(self, *devices: str) -> None:
        self.devices = [torch.device(d) for d in devices]

    def parameters(self):
        return (SimpleNamespace(device=d) for d in self.devices)


@pytest.fixture
def reserved(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """torch.cuda.max_memory_reserved answering 1 GiB per device index (cuda:3 holds 3 GiB);
    the returned list records which devices were asked."""
    asked: list[int] = []

    def max_memory_reserved(device: torch.device) -> int:
        asked.append(device.index)
        return device.index * 2**30

    monkeypatch.setattr(torch.cuda, "max_memory_reserved", max_memory_reserved)
    return asked


def _state() -> SimpleNamespace:
    return SimpleNamespace(is_world_process_zero=True, global_step=3, max_steps=10)


def test_a_split_model_logs_its_largest_devices_peak_and_asks_no_other(reserved: list[int]) -> None:
    logs = {"loss": 1.5}
    PeakMemoryLog().on_log(None, _state(), None, logs=logs, model=_OnDevices("cuda:1", "cuda:3", "cuda:1"))
    assert logs == {"loss": 1.5, "memory(GiB)": 3.0}
    assert sorted(reserved) == [1, 3]


def test_a_model_on_the_cpu_logs_no_memory(reserved: list[int]) -> None:
    logs = {"loss": 1.5}
    PeakMemoryLog().on_log(None, _state(), None, logs=logs, model=torch.nn.Linear(2, 2))
    assert logs == {"loss": 1.5}
    assert reserved == []


def test_every_trainer_writes_the_memory_into_logging_jsonl(tmp_path: Path, reserved: list[int]) -> None:
    run = SimpleNamespace(output_dir=tmp_path, plugin_host=SimpleNamespace(train_callbacks=lambda run: []))
    logs = {"loss": 1.5}
    for callback in standard_callbacks(run):
        if isinstance(callback, (PeakMemoryLog, JsonlLogger)):
            callback.on_log(None, _state(), None, logs=logs, model=_OnDevices("cuda:2"))
    record = json.loads((tmp_path / "logging.jsonl").read_text())
    assert record["memory(GiB)"] == 2.0
