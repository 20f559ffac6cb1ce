"""`tk run web-ui`: the Gradio page and its handlers.

Train: a trainer dropdown and one accordion per argument group, generated from the
declarations (`tunekite_webui.forms`); the accordions of the groups the selected trainer
and components have are shown. Check and Start run the CLI's own resolution and
validation on the options the form stands for, show the exact `tk run` command, and Start
runs it as a subprocess. Runs: curves, progress, log, stop and resume, earlier runs.
Chat: a checkpoint and its base model side by side. Export: merge and the installed
exporters, through `tk run export`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunekite_webui import forms
from tunekite_webui.chat import base_argv, load_engine, plain, stream_reply, tuned_argv
from tunekite_webui.curves import curves_html
from tunekite_webui.locale import STRINGS
from tunekite_webui.preview import encoded_rows
from tunekite_webui.runs import (
    Runs,
    TrainingProcess,
    checkpoints,
    command_line,
    earlier_runs,
    read_log,
    resume_argv,
    run_args,
)

if TYPE_CHECKING:
    from tunekite.api import Run

OPEN_GROUPS = ("common", "model", "data", "tuner", "training")
"""Accordions open when the page loads; the others start closed."""


def serve(run: Run) -> None:
    """The `web-ui` task's factory: serve the page on `--server_name:--server_port` until Ctrl-C;
    runs it started are stopped (SIGINT, so each saves a checkpoint) when it ends."""
    ui = WebUI(run)
    try:
        launch(ui.build(), run)
    finally:
        ui.runs.stop_all()


def launch(page: Any, run: Run, *, block: bool = True) -> Any:
    """Serve `page` on `--server_name:--server_port` (`--share` adds a public link), with a
    warning on stderr when that is beyond this machine."""
    from tunekite.api import warn_if_exposed

    advice = "The page asks for no key and starts training runs: keep --server_name 127.0.0.1."
    warn_if_exposed(run.server_name, run.server_port, "tk run web-ui", advice)
    return page.launch(
        server_name=run.server_name, server_port=run.server_port, share=run.share, inbrowser=False,
        show_error=True, prevent_thread_lock=not block,
    )  # fmt: skip


def elem_id(view: forms.FieldView) -> str:
    """`tk-<group>-<argument>`: a stable id for tests and custom CSS (`tk-tuners-lora-lora_rank`)."""
    return "tk-" + view.group.replace(":", "-") + "-" + view.field.name


def widget(gr: Any, view: forms.FieldView) -> Any:
    """The gradio component of one argument: its help is the widget's info line."""
    common = {"label": view.label, "info": view.info, "elem_id": elem_id(view), "interactive": True}
    value = view.initial()
    if view.kind == "checkbox":
        return gr.Checkbox(value=bool(value), **common)
    if view.kind in ("dropdown", "multiselect"):
        return gr.Dropdown(
            choices=list(view.choices),
            value=value,
            multiselect=view.kind == "multiselect",
            allow_custom_value=view.custom,
            **common,
        )
    if view.kind in ("integer", "number"):
        return gr.Number(value=value, precision=0 if view.kind == "integer" else None, **common)
    return gr.Textbox(value=value, type="password" if view.kind == "password" else "text", **common)


class WebUI:
    """The page of one `tk run web-ui`: its plugin host, its runs, its loaded chat engines."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.host = run.plugin_host
        self.text = STRINGS[run.lang]  # --lang is zh or en: the CLI checked it
        self.root = Path(run.groups["common"].output_dir or "output")
        self.runs = Runs()
        self.engines: dict[tuple[str, str], tuple[Any, Any]] = {}
        self.trainers = [e.spec.name for e in self.host.registry("trainers") if not e.spec.dispatch]
        self.train_views = forms.runnable_groups(self.trainers, self.host, forms.TRAIN_KINDS)
        self.train_fields = [f for g in self.train_views for f in g.fields]
        self.export_views = [
            g
            for g in forms.runnable_groups(["export"], self.host, ("exporters",))
            if g.key.startswith(("tasks:", "exporters:"))
        ]
        self.export_fields = [f for g in self.export_views for f in g.fields]
        overridden = {k for e in self.host.registry("trainers") for k, _ in e.spec.defaults}
        self.trainer_defaults = [
            i for i, f in enumerate(self.train_fields) if ":" not in f.group and f.field.name in overridden
        ]

    # -- the options a form stands for -------------------------------------------------------

    def plugin_argv(self) -> list[str]:
        """The local plugin files this page loaded: runs it starts load them too."""
        paths = list(self.host.custom_paths)
        return ["--custom_register_path", *paths] if paths else []

    def form_run(
        self, name: str, fields: list[forms.FieldView], values: list[Any], prefix: list[str]
    ) -> tuple[list[str], Any]:
        """The options a form stands for and the CLI's verdict on them: the resolved run, or the
        error's one line. A selection the CLI refuses (an unknown tuner) is that line too."""
        from tunekite.api import TunekiteError

        try:
            argv = forms.form_options(name, fields, values, self.host, prefix)
        except TunekiteError as exc:
            return [
                *prefix,
                *forms.form_argv(fields, values, {f.group for f in fields}, {}, {}),
            ], f"Error: {exc}"
        return argv, self.checked(name, argv)

    def checked(self, name: str, argv: list[str]) -> Any:
        """The CLI's own resolution and validation of `tk run NAME ARGV`: the run, or the
        error's one line (a `TunekiteError`, as `tk` prints it)."""
        from tunekite.api import TunekiteError, resolve

        try:
            return resolve(name, argv, self.host)[0]
        except TunekiteError as exc:
            return f"Error: {exc}"

    # -- handlers ----------------------------------------------------------------------------

    def on_selection(self, trainer: str, *values: Any) -> list[Any]:
        """Show the accordions of the groups this trainer and these selections have; give the
        fields a trainer sets its own default for (pt's `loss_scale all`) that default."""
        import gradio as gr

        values = list(values)
        try:
            run = forms.resolved_groups(trainer, self.train_fields, values, self.host, self.plugin_argv())
        except Exception:  # a half-typed selection: leave the form as it is
            return [gr.update()] * (len(self.train_views) + len(self.trainer_defaults))
        defaults = forms.effective_defaults(run)
        shown = [gr.update(visible=g.key in run.groups) for g in self.train_views]
        fields = []
        for i in self.trainer_defaults:
            view = self.train_fields[i]
            fields.append(gr.update(value=view.widget_value(defaults.get(view.key, view.field.default))))
        return shown + fields

    def on_check(self, trainer: str, *values: Any) -> tuple[str, str]:
        argv, checked = self.form_run(trainer, self.train_fields, list(values), self.plugin_argv())
        return command_line(trainer, argv), checked if isinstance(checked, str) else "OK"

    def on_start(self, trainer: str, *values: Any) -> tuple[Any, ...]:
        import gradio as gr

        from tunekite.api import base_folder

        argv, checked = self.form_run(trainer, self.train_fields, list(values), self.plugin_argv())
        if isinstance(checked, str):
            return command_line(trainer, argv), checked, gr.update(), gr.update(), gr.update()
        started = self.runs.start(trainer, argv, base_folder(checked))
        message = self.text["started"].format(number=started.number)
        choices = self.run_choices()
        return (
            command_line(trainer, argv),
            message,
            gr.update(choices=choices, value=f"#{started.number}"),
            gr.Tabs(selected="runs"),
            gr.Timer(active=True),
        )

    def on_preview(self, trainer: str, rows: float, *values: Any) -> Any:
        import gradio as gr

        _, checked = self.form_run(trainer, self.train_fields, list(values), self.plugin_argv())
        if isinstance(checked, str):
            return gr.update(value=[(checked, None)])
        segments: list[tuple[str, str | None]] = []
        for heading, parts in encoded_rows(checked, max(1, int(rows or 1))):
            segments += [(f"\n── {heading} ──\n", None), *parts]
        return gr.update(value=segments)

    def run_choices(self) -> list[tuple[str, str]]:
        """The runs dropdown: this page's runs (newest first), then earlier runs on disk."""
        choices, seen = [], set()
        for started in reversed(self.runs.all()):
            folder = started.find_folder()
            where = str(folder) if folder else "…"
            choices.append(
                (f"#{started.number} {started.name} {started.status()} {where}", f"#{started.number}")
            )
            if folder:
                seen.add(folder.resolve())
        for folder in earlier_runs(self.root):
            if folder.resolve() not in seen:
                choices.append((str(folder), str(folder)))
        return choices

    def selected(self, value: str | None) -> tuple[TrainingProcess | None, Path | None]:
        if not value:
            return None, None
        if value.startswith("#"):
            started = self.runs.get(int(value[1:]))
            return started, started.find_folder() if started else None
        folder = Path(value)
        return self.runs.by_folder(folder), folder

    def on_view(self, value: str | None, chosen: str | None) -> tuple[Any, ...]:
        """Status with progress and ETA, curves, log tail, args.json and checkpoints of a run."""
        import gradio as gr

        started, folder = self.selected(value)
        if started is None and folder is None:
            return self.text["no_run"], curves_html([]), "", "", gr.update(choices=[], value=None)
        records = read_log(folder)
        if started is not None:
            step, total, eta = started.progress(records)
            status = f"#{started.number} {started.status()} · `{started.command}`"
            log = started.log_tail()
        else:
            step, total = (int(records[-1]["step"]), int(records[-1]["max_steps"])) if records else (0, 0)
            eta, status, log = None, "", ""
        if total:
            status += f"\n\nstep {step}/{total} ({100 * step // total}%)"
            status += "" if eta is None else f" · ETA {eta:.0f} s"
        if folder is not None:
            status += f"\n\nfolder: `{folder}`"
        found = [str(p) for p in checkpoints(folder)]
        pick = chosen if chosen in found else (found[-1] if found else None)
        args = json.dumps(run_args(folder), indent=2, ensure_ascii=False) if folder else ""
        return status, curves_html(records), log, args, gr.update(choices=found, value=pick)

    def on_stop(self, value: str | None) -> str:
        started, _ = self.selected(value)
        if started is None:
            return self.text["not_here"]
        started.stop()
        return f"#{started.number} {started.status()}"

    def on_resume(self, value: str | None, checkpoint: str | None) -> tuple[str, Any]:
        import gradio as gr

        _, folder = self.selected(value)
        if folder is None or not checkpoint:
            return self.text["no_run"], gr.update()
        name, argv = resume_argv(folder, Path(checkpoint))
        checked = self.checked(name, argv)
        if isinstance(checked, str):
            return checked, gr.update()
        started = self.runs.start(name, argv, folder)
        return self.text["started"].format(number=started.number), gr.update(
            choices=self.run_choices(), value=f"#{started.number}"
        )

    def all_checkpoints(self) -> list[str]:
        """Every committed checkpoint under the output folder, newest run first."""
        return [str(c) for folder in earlier_runs(self.root) for c in reversed(checkpoints(folder))]

    def on_checkpoints(self) -> Any:
        import gradio as gr

        found = self.all_checkpoints()
        return gr.update(choices=found, value=found[0] if found else None)

    def on_load(self, checkpoint: str | None, backend: str) -> str:
        if not checkpoint:
            return self.text["no_run"]
        from tunekite.api import TunekiteError

        try:
            tuned = load_engine(tuned_argv(Path(checkpoint)), backend, self.host)
            base = load_engine(base_argv(Path(checkpoint)), backend, self.host)
        except TunekiteError as exc:
            return f"Error: {exc}"
        self.engines[(checkpoint, backend)] = (tuned, base)
        return self.text["loaded"].format(what=f"{checkpoint} ({backend})")

    def on_send(
        self,
        message: str,
        tuned_history: list[Any],
        base_history: list[Any],
        checkpoint: str | None,
        backend: str,
        temperature: float,
        max_tokens: float,
    ) -> Any:
        """Stream the tuned model's reply, then the base model's, into their chatbots."""
        import gradio as gr

        engines = self.engines.get((checkpoint or "", backend))
        if engines is None:
            raise gr.Error(self.text["no_run"])
        histories = [plain(tuned_history), plain(base_history)]
        for history in histories:
            history += [{"role": "user", "content": message}, {"role": "assistant", "content": ""}]
        yield "", histories[0], histories[1]
        for engine, history in zip(engines, histories, strict=True):
            for delta in stream_reply(engine, history[:-1], temperature, max_tokens):
                history[-1]["content"] += delta
                yield "", histories[0], histories[1]

    def on_export(self, checkpoint: str | None, *values: Any) -> tuple[str, str]:
        if not checkpoint:
            return "", self.text["no_run"]
        prefix = [*self.plugin_argv(), *tuned_argv(Path(checkpoint))]
        argv, checked = self.form_run("export", self.export_fields, list(values), prefix)
        if isinstance(checked, str):
            return command_line("export", argv), checked
        started = self.runs.start("export", argv, None)
        return command_line("export", argv), self.text["started"].format(number=started.number)

    def on_export_view(self) -> str:
        exports = [r for r in self.runs.all() if r.name == "export"]
        if not exports:
            return ""
        last = exports[-1]
        return f"#{last.number} {last.status()}\n{last.log_tail(20)}"

    # -- the page ----------------------------------------------------------------------------

    def build(self) -> Any:
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
        import gradio as gr

        text = self.text
        title = self.run.studio_title or "TuneKite"
        with gr.Blocks(title=title, analytics_enabled=False) as page:
            gr.Markdown(f"# {title}")
            with gr.Tabs(elem_id="tk-tabs") as tabs:
                with gr.Tab(text["train"], id="train", elem_id="tk-tab-train") as train_tab:
                    trainer, widgets, accordions = self._train_form(gr)
                    with gr.Row():
                        rows = gr.Number(
                            value=2, precision=0, label=text["preview_rows"], elem_id="tk-preview-rows"
                        )
                        preview_button = gr.Button(text["preview"], elem_id="tk-preview")
                    preview = gr.HighlightedText(
                        label=text["preview"],
                        elem_id="tk-preview-rows-shown",
                        combine_adjacent=False,
                        show_legend=True,
                    )
                    command = gr.Textbox(
                        label=text["command"], elem_id="tk-command", interactive=False, buttons=["copy"]
                    )
                    message = gr.Markdown(elem_id="tk-train-message")
                    with gr.Row():
                        check_button = gr.Button(text["check"], elem_id="tk-check")
                        start_button = gr.Button(text["start"], variant="primary", elem_id="tk-start")
                with gr.Tab(text["runs"], id="runs", elem_id="tk-tab-runs") as runs_tab:
                    with gr.Row():
                        run_select = gr.Dropdown(
                            choices=self.run_choices(),
                            label=text["run"],
                            elem_id="tk-run",
                            scale=4,
                            allow_custom_value=True,
                        )
                        refresh = gr.Button(text["refresh"], elem_id="tk-run-refresh", scale=1)
                    status = gr.Markdown(elem_id="tk-run-status")
                    curves = gr.HTML(curves_html([]), elem_id="tk-curves")
                    log = gr.Textbox(
                        label=text["log"], lines=10, max_lines=10, elem_id="tk-log", interactive=False
                    )
                    with gr.Row():
                        stop_button = gr.Button(text["stop"], variant="stop", elem_id="tk-stop")
                        resume_checkpoint = gr.Dropdown(
                            label=text["checkpoint"], elem_id="tk-resume-checkpoint", allow_custom_value=True
                        )
                        resume_button = gr.Button(text["resume"], elem_id="tk-resume")
                    run_message = gr.Markdown(elem_id="tk-run-message")
                    args = gr.Code(label=text["args"], language="json", elem_id="tk-run-args")
                with gr.Tab(text["chat"], id="chat", elem_id="tk-tab-chat") as chat_tab:
                    chat_parts = self._chat(gr)
                with gr.Tab(text["export"], id="export", elem_id="tk-tab-export") as export_tab:
                    export_parts = self._export(gr)

            timer = gr.Timer(1.0, active=False)  # ticks only while a tab that shows runs is open
            for tab in (train_tab, runs_tab, chat_tab, export_tab):
                watching = tab in (runs_tab, export_tab)
                tab.select(lambda w=watching: gr.Timer(active=w), None, [timer], api_visibility="private")
            selectors = [
                trainer,
                *(
                    w
                    for w, f in zip(widgets, self.train_fields, strict=True)
                    if f.field.selects or f.field.enables
                ),
            ]
            defaults_out = [widgets[i] for i in self.trainer_defaults]
            for selector in selectors:
                selector.change(
                    self.on_selection,
                    [trainer, *widgets],
                    [*accordions, *defaults_out],
                    api_visibility="private",
                )
            check_button.click(
                self.on_check, [trainer, *widgets], [command, message], api_visibility="private"
            )
            start_button.click(
                self.on_start,
                [trainer, *widgets],
                [command, message, run_select, tabs, timer],
                api_visibility="private",
            )
            preview_button.click(
                self.on_preview, [trainer, rows, *widgets], [preview], api_visibility="private"
            )
            view_out = [status, curves, log, args, resume_checkpoint]
            run_select.change(
                self.on_view, [run_select, resume_checkpoint], view_out, api_visibility="private"
            )
            refresh.click(
                lambda v: gr.update(choices=self.run_choices(), value=v),
                [run_select],
                [run_select],
                api_visibility="private",
            )
            timer.tick(
                self.on_view,
                [run_select, resume_checkpoint],
                view_out,
                api_visibility="private",
                show_progress="hidden",
            )
            stop_button.click(self.on_stop, [run_select], [run_message], api_visibility="private")
            resume_button.click(
                self.on_resume,
                [run_select, resume_checkpoint],
                [run_message, run_select],
                api_visibility="private",
            )
            self._chat_events(gr, *chat_parts)
            self._export_events(gr, timer, *export_parts)
            page.load(
                self.on_selection, [trainer, *widgets], [*accordions, *defaults_out], api_visibility="private"
            )
        page.queue(default_concurrency_limit=4)
        return page

    def _train_form(self, gr: Any) -> tuple[Any, list[Any], list[Any]]:
        trainer = gr.Dropdown(
            choices=self.trainers,
            value="sft" if "sft" in self.trainers else self.trainers[0],
            label=self.text["trainer"],
            elem_id="tk-trainer",
        )
        widgets, accordions = [], []
        for group in self.train_views:
            slug = group.key.replace(":", "-")
            with gr.Accordion(
                group.title,
                open=group.key in OPEN_GROUPS or ":" in group.key,
                visible=":" not in group.key,
                elem_id=f"tk-group-{slug}",
            ) as accordion:
                widgets += [widget(gr, view) for view in group.fields]
            accordions.append(accordion)
        return trainer, widgets, accordions

    def _checkpoint_picker(self, gr: Any, tab: str) -> tuple[Any, Any]:
        """A dropdown of the checkpoints under the output folder (newest first; a path may be
        typed) and the button that lists them again."""
        found = self.all_checkpoints()
        checkpoint = gr.Dropdown(
            choices=found,
            value=found[0] if found else None,
            label=self.text["checkpoint"],
            elem_id=f"tk-{tab}-checkpoint",
            allow_custom_value=True,
            scale=4,
        )
        return checkpoint, gr.Button(self.text["refresh"], elem_id=f"tk-{tab}-refresh", scale=1)

    def _chat(self, gr: Any) -> tuple[Any, ...]:
        text = self.text
        with gr.Row():
            checkpoint, refresh = self._checkpoint_picker(gr, "chat")
            engines = list(self.host.registry("engines").names())
            backend = gr.Dropdown(
                choices=engines,
                value="pt" if "pt" in engines else engines[0],
                label=text["engine"],
                elem_id="tk-chat-engine",
                scale=1,
            )
            load = gr.Button(text["load"], elem_id="tk-chat-load", scale=1)
        loaded = gr.Markdown(elem_id="tk-chat-loaded")
        with gr.Row():
            tuned = gr.Chatbot(label=text["tuned"], elem_id="tk-chat-tuned", height=360)
            base = gr.Chatbot(label=text["base"], elem_id="tk-chat-base", height=360)
        with gr.Row():
            box = gr.Textbox(show_label=False, placeholder=text["input"], elem_id="tk-chat-input", scale=4)
            send = gr.Button(text["send"], variant="primary", elem_id="tk-chat-send", scale=1)
            clear = gr.Button(text["clear"], elem_id="tk-chat-clear", scale=1)
        with gr.Row():
            temperature = gr.Slider(
                0.0, 2.0, value=0.0, step=0.05, label=text["temperature"], elem_id="tk-chat-temperature"
            )
            max_tokens = gr.Slider(
                1, 4096, value=128, step=1, label=text["max_tokens"], elem_id="tk-chat-max-tokens"
            )
        return (
            checkpoint,
            refresh,
            backend,
            load,
            loaded,
            tuned,
            base,
            box,
            send,
            clear,
            temperature,
            max_tokens,
        )

    def _chat_events(
        self,
        gr: Any,
        checkpoint: Any,
        refresh: Any,
        backend: Any,
        load: Any,
        loaded: Any,
        tuned: Any,
        base: Any,
        box: Any,
        send: Any,
        clear: Any,
        temperature: Any,
        max_tokens: Any,
    ) -> None:
        refresh.click(self.on_checkpoints, None, [checkpoint], api_visibility="private")
        load.click(self.on_load, [checkpoint, backend], [loaded], api_visibility="private")
        inputs = [box, tuned, base, checkpoint, backend, temperature, max_tokens]
        for trigger in (send.click, box.submit):
            trigger(self.on_send, inputs, [box, tuned, base], api_visibility="private")
        clear.click(lambda: ([], []), None, [tuned, base], api_visibility="private")

    def _export(self, gr: Any) -> tuple[Any, ...]:
        text = self.text
        with gr.Row():
            checkpoint, refresh = self._checkpoint_picker(gr, "export")
        listed = "\n".join(
            f"- `{e.spec.name}` ({e.distribution or e.plugin}): {e.spec.summary}"
            for e in self.host.registry("exporters")
        )
        gr.Markdown(f"**{text['exporters']}**\n\n{listed}", elem_id="tk-exporters")
        widgets, accordions = [], []
        for group in self.export_views:
            with gr.Accordion(
                group.title,
                open=group.key.startswith("tasks:"),
                visible=group.key.startswith("tasks:"),
                elem_id="tk-group-" + group.key.replace(":", "-"),
            ) as accordion:
                widgets += [widget(gr, view) for view in group.fields]
            accordions.append(accordion)
        command = gr.Textbox(
            label=text["command"], elem_id="tk-export-command", interactive=False, buttons=["copy"]
        )
        message = gr.Markdown(elem_id="tk-export-message")
        button = gr.Button(text["run_export"], variant="primary", elem_id="tk-export-start")
        log = gr.Textbox(label=text["log"], lines=8, elem_id="tk-export-log", interactive=False)
        return checkpoint, refresh, widgets, accordions, command, message, button, log

    def _export_events(
        self,
        gr: Any,
        timer: Any,
        checkpoint: Any,
        refresh: Any,
        widgets: list[Any],
        accordions: list[Any],
        command: Any,
        message: Any,
        button: Any,
        log: Any,
    ) -> None:
        def shown(*values: Any) -> list[Any]:
            try:
                run = forms.resolved_groups(
                    "export", self.export_fields, list(values), self.host, self.plugin_argv()
                )
            except Exception:  # a half-typed selection: leave the form as it is
                return [gr.update()] * len(accordions)
            return [gr.update(visible=g.key in run.groups) for g in self.export_views]

        for w, f in zip(widgets, self.export_fields, strict=True):
            if f.field.selects or f.field.enables:
                w.change(shown, widgets, accordions, api_visibility="private")
        refresh.click(self.on_checkpoints, None, [checkpoint], api_visibility="private")
        button.click(self.on_export, [checkpoint, *widgets], [command, message], api_visibility="private")
        timer.tick(self.on_export_view, None, [log], api_visibility="private", show_progress="hidden")
