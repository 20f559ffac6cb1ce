"""An Ollama `Modelfile` from the run's TuneKite chat template.

`TEMPLATE` is a Go template over Ollama's `.Messages`, built from the `ChatFormat` pieces:
system, user, assistant header, reply, end of turn, turn separator, tool results, and the
assistant header as the generation prompt after the last message. BOS is left out: llama.cpp
adds it itself when the GGUF asks for it. Families without a system role join the system
prompt to the first user message with their `system_in_user` piece.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PARAMETERS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "repetition_penalty": "repeat_penalty",
}
"""generation_config.json keys -> Ollama `PARAMETER` names."""


def export(_args: Any, run: Any, source: Path) -> Path:
    """Write `run.output_dir/Modelfile` pointing at `source` (a .gguf file or a model folder);
    returns `source`, which the next step (the hub) publishes."""
    from tunekite.api import build_template, load_tokenizer, model_folder

    template = build_template(
        load_tokenizer(run), run.groups["template"], run.model, run.model_type, host=run.plugin_host
    )
    folder = Path(run.output_dir)
    generation = _generation_config(source if source.is_dir() else model_folder(run))
    text = modelfile(template, _from(source, folder), generation)
    staging = folder / f".Modelfile.tmp-{os.getpid()}"
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, folder / "Modelfile")
    return source


def modelfile(template: Any, source: str, generation: dict[str, Any]) -> str:
    """The Modelfile text: FROM, TEMPLATE, SYSTEM (when there is one), stops, parameters."""
    lines = [f"FROM {source}", f'TEMPLATE """{go_template(template.format)}"""']
    system = template.system if template.system is not None else template.format.default_system
    if system:
        lines.append(f'SYSTEM """{system}"""')
    lines += [f"PARAMETER stop {json.dumps(word)}" for word in template.stop_words]
    for key, name in PARAMETERS.items():
        if generation.get(key) is not None:
            lines.append(f"PARAMETER {name} {generation[key]}")
    return "\n".join(lines) + "\n"


def go_template(fmt: Any) -> str:
    """The chat format as an Ollama Go template over `.Messages`."""

    def piece(text: str, **values: str) -> str:
        for name, value in {"content": "{{ .Content }}", **values}.items():
            text = text.replace("{" + name + "}", value)
        return text

    header, end = fmt.assistant_header, fmt.assistant_end + fmt.turn_sep
    if fmt.system is not None:
        system = f'{{{{- if eq .Role "system" }}}}{piece(fmt.system)}'
        user = f'{{{{- else if eq .Role "user" }}}}{piece(fmt.user)}'
        keep = ""
    else:  # the system prompt waits for the first user message
        system = '{{- if eq .Role "system" }}{{ $system = .Content }}'
        joined = piece(fmt.user, content=piece(fmt.system_in_user, system="{{ $system }}"))
        user = (
            f'{{{{- else if eq .Role "user" }}}}{{{{ if $system }}}}{joined}{{{{ $system = "" }}}}'
            f"{{{{ else }}}}{piece(fmt.user)}{{{{ end }}}}"
        )
        keep = '{{- $system := "" }}'
    tool = f'{{{{- else if eq .Role "tool" }}}}{piece(fmt.tool_response)}' if fmt.tool_response else ""
    return (
        f"{keep}{{{{- range $i, $_ := .Messages }}}}"
        "{{- $last := eq (len (slice $.Messages $i)) 1 }}"
        f"{system}{user}{tool}"
        f'{{{{- else if eq .Role "assistant" }}}}{header}{piece(fmt.assistant)}'
        f"{{{{ if not $last }}}}{end}{{{{ end }}}}"
        "{{- end }}"
        f'{{{{- if and $last (ne .Role "assistant") }}}}{header}{{{{ end }}}}'
        "{{- end }}"
    )


def _from(source: Path, folder: Path) -> str:
    """FROM: relative to the Modelfile's folder when the model lies inside it."""
    try:
        return f"./{source.resolve().relative_to(folder.resolve())}"
    except ValueError:
        return str(source.resolve())


def _generation_config(folder: Path | None) -> dict[str, Any]:
    """The model's sampling defaults: the folder's generation_config.json (for a GGUF, the
    run's model folder's, which the GGUF was made from); {} without one."""
    path = Path(folder or "") / "generation_config.json"
    if folder is None or not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))
