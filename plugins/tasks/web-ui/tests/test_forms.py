"""The web UI without a browser: widgets from declarations, the options a form stands for,
the CLI's own messages for bad values, and the export form of the installed exporters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tunekite_webui.page as page_module
from tunekite_webui import forms
from tunekite_webui.plugin import WebUIArguments

from tunekite.api import get_host, resolve, start


@pytest.fixture(scope="module")
def ui() -> Any:
    """The page's handlers over the installed plugins (`tk run web-ui`, not served)."""
    built: dict[str, Any] = {}
    real_build = page_module.WebUI.build

    def keep(webui: Any) -> Any:
        built["ui"] = webui
        return real_build(webui)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(page_module.WebUI, "build", keep)
        patch.setattr(page_module, "launch", lambda page, run, block=True: None)
        start("web-ui", ["--lang", "en"])
    return built["ui"]


def values(ui: Any, fields: list[forms.FieldView], **given: Any) -> list[Any]:
    """Widget values: the declared defaults, with `given` ("group.name": value) typed in."""
    return [given.get(f.key, f.initial()) for f in fields]


def test_defaults_follow_the_swift_web_ui_arguments_but_stay_on_this_machine() -> None:
    args = WebUIArguments()
    assert (args.server_name, args.server_port, args.share, args.lang, args.studio_title) == (
        "127.0.0.1", 7860, False, "zh", None,
    )  # fmt: skip


def test_types_become_widgets_and_selectors_list_the_installed_names() -> None:
    host = get_host()
    run, _ = resolve("sft", ["--help"], host)
    views = {f.key: f for g in forms.runnable_groups(["sft"], host, ("tuners",)) for f in g.fields}
    assert views["training.gradient_checkpointing"].kind == "checkbox"
    assert views["training.max_steps"].kind == "integer"
    assert views["training.learning_rate"].kind == "text"  # None: "" means the tuner's default
    assert views["training.lr_scheduler_type"].kind in ("text", "dropdown")
    tuner = views["tuner.tuner"]
    assert tuner.kind == "dropdown" and {"lora", "full"} <= set(tuner.choices) and not tuner.custom
    assert views["data.dataset"].kind == "multiselect" and views["data.dataset"].custom
    assert views["model.hub_token"].kind == "password"
    assert views["tuners:lora.lora_rank"].info == tuner.field.help or views["tuners:lora.lora_rank"].info
    assert "common.custom_register_path" not in views and set(run.groups) <= {v.group for v in views.values()}


def test_only_changed_values_of_shown_groups_become_options(ui: Any) -> None:
    given = {
        "training.max_steps": 5,
        "tuners:lora.lora_rank": 4,
        "tuners:full.freeze_parameters_ratio": 0.5,
        "data.dataset": ["a.jsonl", "b.jsonl"],
        "training.report_to": "none",
    }
    argv = ui.form_run("sft", ui.train_fields, values(ui, ui.train_fields, **given), [])[0]
    assert argv == ["--dataset", "a.jsonl", "b.jsonl", "--max_steps", "5", "--report_to", "none",
                    "--lora_rank", "4"]  # fmt: skip
    # pt trains every token without a chat template: choosing pt sets those widgets to its
    # defaults, and then they stand for no option
    form = values(ui, ui.train_fields, **{"tuner.tuner": "full"})
    updates = ui.on_selection("pt", *form)[len(ui.train_views) :]
    for index, update in zip(ui.trainer_defaults, updates, strict=True):
        form[index] = update["value"]
    changed = {ui.train_fields[i].key: form[i] for i in ui.trainer_defaults}
    assert changed["template.loss_scale"] == "all" and changed["template.use_chat_template"] is False
    assert ui.form_run("pt", ui.train_fields, form, [])[0] == ["--tuner", "full"]


def test_bad_values_get_the_clis_own_message(ui: Any, tmp_path: Path) -> None:
    command, message = ui.on_check("sft", *values(ui, ui.train_fields, **{"training.max_steps": 0}))
    assert message == "Error: --max_steps must be positive, or -1 to train --num_train_epochs; got 0"
    assert command == "tk run sft --max_steps 0"
    _, message = ui.on_check("sft", *values(ui, ui.train_fields, **{"training.learning_rate": "fast"}))
    assert message.startswith("Error: command line: --learning_rate expects float, got 'fast'")
    _, message = ui.on_check("sft", *values(ui, ui.train_fields, **{"tuner.tuner": "nope"}))
    assert "Unknown" in message and "lora" in message


def test_export_form_selects_the_installed_exporters(ui: Any, tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint-4"
    checkpoint.mkdir()
    (checkpoint / "adapter_config.json").write_text("{}")
    keys = [f.key for f in ui.export_fields]
    assert "tasks:export.merge_lora" in keys and "tasks:export.to_gguf" in keys
    given = {
        "tasks:export.merge_lora": True,
        "tasks:export.quant_method": "bnb",
        "exporters:bnb.quant_bits": 8,
    }
    run = forms.resolved_groups("export", ui.export_fields, values(ui, ui.export_fields, **given), ui.host)
    assert "exporters:bnb" in run.groups and "exporters:gguf" not in run.groups
    started: list[Any] = []
    ui.runs.start = lambda name, argv, base: started.append((name, argv)) or type("R", (), {"number": 1})
    command, _ = ui.on_export(str(checkpoint), *values(ui, ui.export_fields, **given))
    assert command == (f"tk run export --adapters {checkpoint} --merge_lora true --quant_method bnb "
                       "--quant_bits 8")  # fmt: skip
    assert started == [("export", command.split()[3:])]
