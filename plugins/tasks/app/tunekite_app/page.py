"""`tk run app`: build the backend (an engine here, or the `--base_url` server), build the
Gradio page over it, and serve it until interrupted.

The page: a chatbot, a message box with Send and Clear buttons, and a side panel with the
system prompt and the temperature and max-new-tokens sliders. Each send streams the reply
into the chatbot; the conversation is kept per browser tab (a `gr.State` of plain
messages, so the model sees exactly the text it wrote, not the page's rendering of it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunekite_app.chat import Backend, EngineBackend, OpenAIBackend, Settings, respond
from tunekite_app.locale import strings

if TYPE_CHECKING:
    from tunekite.api import Run

DEFAULT_TEMPERATURE = 1.0
"""The slider's start when the run sets no --temperature (OpenAI's and transformers' default)."""
DEFAULT_MAX_TOKENS = 512
"""The slider's start when the run sets no --max_new_tokens."""
ELEM_IDS = {
    "chatbot": "tk-chatbot",
    "input": "tk-input",
    "send": "tk-send",
    "clear": "tk-clear",
    "system": "tk-system",
    "temperature": "tk-temperature",
    "max_tokens": "tk-max-tokens",
}
"""Stable element ids of the page's parts (what browser tests and custom CSS find)."""


def serve(run: Run) -> None:
    """The `app` task's factory: serve the page on `--server_name:--server_port` until Ctrl-C."""
    backend = make_backend(run)
    page = build_page(backend, run)
    launch(page, run)


def make_backend(run: Run) -> Backend:
    """An `OpenAIBackend` with `--base_url` (nothing is loaded here; `--model` names the
    served model, else the server's first), else the `--infer_backend` engine over the
    `--model` / `--adapters` this run names."""
    if run.base_url:
        return OpenAIBackend(run.base_url, run.api_key, run.groups["model"].model)
    return EngineBackend(build_engine(run), model_name(run))


def build_engine(run: Run) -> Any:
    """The selected engine, as `tk run infer` builds it: engines that load the weights
    themselves (`loads_model`, e.g. vLLM) get the model folder, the others a loaded model."""
    from transformers import set_seed

    from tunekite.api import build_template, load_for_inference, load_tokenizer, model_folder

    set_seed(run.seed)
    spec = run.component("engines")
    factory = spec.load()
    engine_args = run.component_args(spec)
    if getattr(spec, "loads_model", False):
        from tunekite.api import ArgumentError

        folder = model_folder(run)
        if folder is None:
            raise ArgumentError(f"--infer_backend {spec.name} needs a model folder; this model has none")
        margs = run.groups["model"]
        tokenizer = load_tokenizer(run)
        template = build_template(
            tokenizer, run.groups["template"], margs.model, margs.model_type, host=run.plugin_host
        )
        return factory(
            folder,
            tokenizer,
            template,
            engine_args,
            max_batch_size=run.max_batch_size,
            adapters=list(run.adapters),
            torch_dtype=margs.torch_dtype,
            seed=run.seed,
        )
    model, tokenizer, template = load_for_inference(run)
    return factory(model, tokenizer, template, engine_args, max_batch_size=run.max_batch_size)


def model_name(run: Run) -> str:
    """What the page calls the model: the --model folder's or name's last part, else the
    adapter checkpoint's."""
    source = run.groups["model"].model or (run.adapters[0] if run.adapters else "model")
    return Path(str(source).rstrip("/")).name or str(source)


def page_settings(run: Run) -> Settings:
    """The run's generation settings, with the sliders' starting values filled in."""
    base = Settings.from_generation(run.groups["generation"])
    temperature = DEFAULT_TEMPERATURE if base.temperature is None else base.temperature
    max_tokens = DEFAULT_MAX_TOKENS if base.max_tokens is None else base.max_tokens
    return base.with_page(temperature, max_tokens)


def build_page(backend: Backend, run: Run) -> Any:
    """The `gr.Blocks` page over `backend` (not yet launched)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    text = strings(run.lang)
    title = run.studio_title or backend.name
    settings = page_settings(run)
    if run.base_url:
        source = text["source_remote"].format(name=backend.name, url=run.base_url)
    else:
        source = text["source_local"].format(name=backend.name, backend=run.infer_backend)

    def send(message: str, messages: list[dict[str, str]] | None, system: str, temperature: float,
             max_tokens: float) -> Any:
        chosen = settings.with_page(temperature, max_tokens)
        try:
            for conversation in respond(backend, message, messages, system, chosen):
                yield "", conversation, conversation
        except Exception as exc:  # shown in the page; the server keeps going
            raise gr.Error(text["error"].format(error=exc)) from exc

    def clear() -> tuple[str, list[Any], list[Any]]:
        return "", [], []

    with gr.Blocks(title=title, analytics_enabled=False) as page:
        gr.Markdown(f"# {title}\n{source}")
        messages = gr.State([])
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label=text["chatbot"], elem_id=ELEM_IDS["chatbot"], height=480,
                                     feedback_options=None, buttons=["copy", "copy_all"])
                box = gr.Textbox(show_label=False, placeholder=text["input"], lines=2,
                                 elem_id=ELEM_IDS["input"], autofocus=True)
                with gr.Row():
                    send_button = gr.Button(text["send"], variant="primary", elem_id=ELEM_IDS["send"])
                    clear_button = gr.Button(text["clear"], elem_id=ELEM_IDS["clear"])
            with gr.Column(scale=1):
                gr.Markdown(f"### {text['settings']}")
                system = gr.Textbox(label=text["system"], value=run.groups["template"].system or "",
                                    placeholder=text["system_placeholder"], lines=4,
                                    elem_id=ELEM_IDS["system"])
                temperature = gr.Slider(0.0, 2.0, value=settings.temperature, step=0.05,
                                        label=text["temperature"], elem_id=ELEM_IDS["temperature"])
                max_tokens = gr.Slider(1, max(4096, settings.max_tokens or 0), value=settings.max_tokens,
                                       step=1, label=text["max_tokens"], elem_id=ELEM_IDS["max_tokens"])
        inputs = [box, messages, system, temperature, max_tokens]
        outputs = [box, chatbot, messages]
        for trigger in (send_button.click, box.submit):
            trigger(send, inputs, outputs, api_visibility="private")
        clear_button.click(clear, None, outputs, api_visibility="private")
        chatbot.clear(clear, None, outputs, api_visibility="private")  # the chatbot's own bin icon
    page.queue(default_concurrency_limit=max(1, run.max_batch_size))
    return page


def theme() -> Any:
    """Gradio's default look with the system's fonts: the page fetches nothing from the
    internet, so it works on offline machines."""
    import gradio as gr

    return gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
    )


def launch(page: Any, run: Run, *, block: bool = True) -> Any:
    """Serve `page` on `--server_name:--server_port` (`--share` adds a public link), with a
    warning on stderr when that is beyond this machine; `block=False` returns once it listens."""
    from tunekite.api import warn_if_exposed

    advice = "The page asks for no key: keep --server_name 127.0.0.1 and reach it through an SSH tunnel."
    warn_if_exposed(run.server_name, run.server_port, "tk run app", advice)
    return page.launch(
        server_name=run.server_name,
        server_port=run.server_port,
        share=run.share,
        inbrowser=False,
        show_error=True,
        prevent_thread_lock=not block,
        theme=theme(),
    )
