"""The template encoder: a conversation in, `input_ids`, `labels` and `loss_scale` out.

A conversation is rendered to one string made of typed pieces (see
`tunekite.templates.loss_scale.Piece`), the loss scale weighs each piece's
characters, and the ids are exactly what the tokenizer gives for the full text (as
`apply_chat_template` does), every token taking the weight of the character it ends on.
A batch of rows is tokenized together, word by word where that provably gives the same
tokens (`tunekite.templates.batch_tokenize`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain
from pathlib import Path
from typing import Any, NamedTuple

from tunekite.constants import IGNORE_INDEX
from tunekite.errors import ArgumentError, TunekiteError
from tunekite.templates.agent import AgentFormat, agent_format
from tunekite.templates.batch_tokenize import ids_and_stops
from tunekite.templates.format import ChatFormat
from tunekite.templates.jinja import JinjaRenderError, jinja_pieces
from tunekite.templates.loss_scale import LossScale, Piece

Message = Mapping[str, str]
Tokens = tuple[list[int], list[tuple[float, int]]]
"""A row's ids, and its runs of equally weighted tokens as (weight, token count)."""


class SampleColumns(NamedTuple):
    """Rows' samples as flat arrays: each row's tokens follow the previous row's."""

    input_ids: Any
    labels: Any
    loss_scale: Any
    length: Any


class TemplateError(TunekiteError):
    """A conversation the template cannot render (bad roles, bad tool call, too long)."""


def raw_format(tokenizer: Any) -> ChatFormat:
    """`--use_chat_template false`: the text as is, EOS after each reply (base models)."""
    return ChatFormat(
        name="raw",
        user="{content}",
        assistant_header="",
        assistant_end=tokenizer.eos_token or "",
        system="{content}\n\n",
    )


def read_system(value: str | None) -> str | None:
    """`--system` is text, or the path of a .txt file holding it."""
    if value is not None and value.endswith(".txt"):
        path = Path(value)
        if not path.is_file():
            raise ArgumentError(f"--system {value}: file not found")
        return path.read_text(encoding="utf-8")
    return value


@dataclass(frozen=True)
class Template:
    """A chat format bound to a tokenizer and the run's template arguments.

    Immutable: building one changes neither the tokenizer nor any registry, and
    `with_options` returns a new value.
    """

    format: ChatFormat
    tokenizer: Any
    system: str | None = None
    max_length: int | None = None
    truncation_strategy: str = "delete"
    loss_scale: LossScale = field(default_factory=LossScale)
    agent: AgentFormat = field(default_factory=AgentFormat)
    backend: str = "swift"

    @classmethod
    def create(
        cls,
        fmt: ChatFormat,
        tokenizer: Any,
        args: Any = None,
        *,
        loss_scale: LossScale | None = None,
        **options: Any,
    ) -> Template:
        """Bind `fmt` to `tokenizer`; `args` is core's `TemplateArguments` (or None).

        `loss_scale` is the object `args.loss_scale` names, resolved by the caller
        (`tunekite.templates.resolve.build_template` looks it up among the registered
        ones): the encoder knows no registry. None is the default scale, and is refused
        when `args` names another one, so a name is never silently ignored.
        """
        values: dict[str, Any] = {}
        if args is not None:
            if loss_scale is None and args.loss_scale != "default":
                raise TypeError(
                    f"args.loss_scale is {args.loss_scale!r}: pass loss_scale= the LossScale it names "
                    "(build_template resolves it)"
                )
            if not args.use_chat_template:
                if args.template_backend == "jinja":
                    raise ArgumentError(
                        "--template_backend jinja renders the tokenizer's chat template, which "
                        "--use_chat_template false turns off: drop one of them"
                    )
                fmt = raw_format(tokenizer)
            values = {
                "system": read_system(args.system),
                "max_length": args.max_length,
                "truncation_strategy": args.truncation_strategy,
                "agent": agent_format(args.tools_prompt),
                "backend": args.template_backend,
            }
        if loss_scale is not None:
            values["loss_scale"] = loss_scale
        values.update(options)
        return cls(fmt.for_tokenizer(tokenizer), tokenizer, **values)

    def with_options(self, **options: Any) -> Template:
        return replace(self, **options)

    @property
    def name(self) -> str:
        return self.format.name

    @property
    def stop_words(self) -> tuple[str, ...]:
        """Strings that end a reply: the end-of-turn text, EOS and the family's extras."""
        words = [self.format.assistant_end, *self.format.stop_words, self.tokenizer.eos_token or ""]
        if self.agent.response_in_turn:
            words.append("Observation:")
        return tuple(dict.fromkeys(w for w in words if w))

    # Rendering ---------------------------------------------------------------------

    def pieces(
        self, messages: Sequence[Message], tools: Any = None, *, generation: bool = False
    ) -> list[Piece]:
        """The conversation as typed text pieces; `generation` ends it with the reply header."""
        if self.backend == "jinja" and not generation:
            return self._jinja_pieces(messages, tools)
        fmt = self.format
        msgs = list(messages)
        if msgs and msgs[0]["role"] == "system":
            system: str | None = msgs.pop(0)["content"]
        else:
            system = self.system if self.system is not None else fmt.default_system
        tool_list = _tool_list(tools)
        if tool_list:
            system = self.agent.system_prompt(tool_list, system)
        rounds = max(sum(m["role"] == "user" for m in msgs), 1)
        out: list[tuple[str, str, int]] = []
        round_ = 0
        if fmt.bos:
            out.append(("bos", fmt.bos, 0))
        pending_system = None
        if system or (fmt.always_system and fmt.system is not None):
            if fmt.system is not None:
                out.append(("system", fmt.system.replace("{content}", system or ""), 0))
            else:
                pending_system = system
        in_turn, seen_user = False, False
        for i, message in enumerate(msgs):
            role, content = message["role"], message["content"]
            if role == "user":
                if seen_user:
                    round_ += 1
                seen_user = True
                if pending_system is not None:
                    content = fmt.system_in_user.replace("{system}", pending_system).replace(
                        "{content}", content
                    )
                    pending_system = None
                out.append(("user", _user_piece(fmt, out).replace("{content}", content), round_))
            elif role in ("assistant", "tool_call"):
                if not in_turn:
                    out.append(("header", fmt.assistant_header, round_))
                    in_turn = True
                if role == "assistant":
                    text = fmt.assistant_text(content, last_round=round_ == rounds - 1)
                    out.append(("assistant", fmt.assistant.replace("{content}", text), round_))
                else:
                    previous = out[-1][1] if out[-1][0] in ("assistant", "tool_response") else ""
                    try:
                        out.append(("tool_call", self.agent.call(content, previous), round_))
                    except ValueError as exc:
                        raise TemplateError(str(exc)) from None
                following = msgs[i + 1]["role"] if i + 1 < len(msgs) else None
                if not (
                    following in ("assistant", "tool_call")
                    or (following == "tool_response" and self.agent.response_in_turn)
                ):
                    out += [("end", fmt.assistant_end, round_), ("sep", fmt.turn_sep, round_)]
                    in_turn = False
            elif role == "tool_response":
                if in_turn:
                    out.append(("tool_response", self.agent.response(content), round_))
                else:
                    wrapped = self.agent.response(content)
                    piece = fmt.tool_response or _user_piece(fmt, out)
                    out.append(("tool_response", piece.replace("{content}", wrapped), round_))
            else:
                where = "first" if role == "system" else "one of user, assistant, tool_call, tool_response"
                raise TemplateError(
                    f"message {i}: role {role!r} is not allowed here (system must come {where})"
                )
        if generation and not in_turn:
            out.append(("header", fmt.assistant_header, round_))
        elif not generation and fmt.suffix:
            out.append(("suffix", fmt.suffix, round_))
        last = rounds - 1
        return [Piece(kind, text, r, r == last) for kind, text, r in out if text]

    def _jinja_pieces(self, messages: Sequence[Message], tools: Any) -> list[Piece]:
        try:
            return jinja_pieces(self.tokenizer, messages, _tool_list(tools) or None, self.system)
        except JinjaRenderError as exc:
            raise TemplateError(f"--template_backend jinja: {exc}") from None

    def render(self, messages: Sequence[Message], tools: Any = None, *, generation: bool = False) -> str:
        """The conversation as one string (what the model sees)."""
        if generation and self.backend == "jinja":
            return self.tokenizer.apply_chat_template(
                list(messages), tools=_tool_list(tools) or None, add_generation_prompt=True, tokenize=False
            )
        return "".join(p.text for p in self.pieces(messages, tools, generation=generation))

    # Encoding ------------------------------------------------------------------------

    def encode(self, row: Mapping[str, Any]) -> dict[str, Any] | None:
        """One conversation row to ids, labels and loss_scale; None when `delete` drops it."""
        return self.encode_batch([row])[0]

    def encode_batch(self, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any] | None]:
        """Many rows with one tokenizer call (the fast path for `datasets.map`)."""
        return [self._finish(ids, spans) for ids, spans in self._tokenize(self._rendered(rows))]

    def encode_columns(self, rows: Iterable[Mapping[str, Any]]) -> SampleColumns:
        """`encode_batch`'s samples as flat arrays, with no list per row (`encode_dataset`
        writes them to Arrow as they are); rows `delete` drops are left out."""
        import numpy as np

        tokens = self._tokenize(self._rendered(rows))
        lengths = np.fromiter((len(ids) for ids, _ in tokens), dtype=np.int64, count=len(tokens))
        ids = np.fromiter(
            chain.from_iterable(ids for ids, _ in tokens), dtype=np.int64, count=int(lengths.sum())
        )
        weights = np.repeat(
            np.fromiter((w for _, spans in tokens for w, _ in spans), dtype=np.float64),
            np.fromiter((n for _, spans in tokens for _, n in spans), dtype=np.int64),
        )
        labels = np.where(weights > 0, ids, IGNORE_INDEX)
        if self.max_length is not None and (lengths > self.max_length).any():
            keep = np.ones(len(ids), dtype=bool)
            starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            for row in np.flatnonzero(lengths > self.max_length):
                cut = self._kept(int(lengths[row]))
                keep[starts[row] : starts[row] + lengths[row]] = False
                if cut is not None:
                    keep[starts[row] + cut.start : starts[row] + cut.stop] = True
                lengths[row] = 0 if cut is None else cut.stop - cut.start
            ids, weights, labels = ids[keep], weights[keep], labels[keep]
            if self.truncation_strategy == "delete":
                lengths = lengths[lengths > 0]
        return SampleColumns(ids, labels, weights, lengths)

    def _rendered(self, rows: Iterable[Mapping[str, Any]]) -> list[list[tuple[str, float]]]:
        return [
            [w for p in self.pieces(row["messages"], row.get("tools")) for w in self.loss_scale(p)]
            for row in rows
        ]

    def prompt_ids(self, messages: Sequence[Message], tools: Any = None) -> list[int]:
        """Token ids of the generation prompt: the conversation so far plus the reply header."""
        return self.tokenizer(self.render(messages, tools, generation=True), add_special_tokens=False)[
            "input_ids"
        ]

    def _tokenize(self, rendered: list[list[tuple[str, float]]]) -> list[Tokens]:
        """Each row's ids, and its runs of tokens of one weight: a token takes the weight
        of the chunk its last character is in."""
        if not getattr(self.tokenizer, "is_fast", False):
            return [self._tokenize_by_chunk(chunks) for chunks in rendered]
        texts = ["".join(s for s, _ in chunks) for chunks in rendered]
        runs = [_weight_runs(chunks) for chunks in rendered]
        ends = [[end for end, _ in row] for row in runs]
        out = []
        for row, (ids, stops) in zip(runs, ids_and_stops(self.tokenizer, texts, ends), strict=True):
            spans = [
                (weight, stop - start)
                for (_, weight), start, stop in zip(row, [0, *stops[:-1]], stops, strict=True)
            ]
            spans.append((0.0, len(ids) - stops[-1]) if stops else (0.0, len(ids)))
            out.append((ids, spans))
        return out

    def _tokenize_by_chunk(self, chunks: list[tuple[str, float]]) -> Tokens:
        """Slow tokenizers have no offsets: tokenize chunk by chunk."""
        ids: list[int] = []
        spans: list[tuple[float, int]] = []
        for text, weight in chunks:
            piece = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            ids += piece
            spans.append((weight, len(piece)))
        return ids, spans

    def _finish(self, ids: list[int], spans: list[tuple[float, int]]) -> dict[str, Any] | None:
        weights: list[float] = []
        labels: list[int] = []
        start = 0
        for weight, count in spans:
            weights += [weight] * count
            labels += ids[start : start + count] if weight > 0 else [IGNORE_INDEX] * count
            start += count
        if self.max_length is not None and len(ids) > self.max_length:
            keep = self._kept(len(ids))
            if keep is None:
                return None
            ids, weights, labels = ids[keep], weights[keep], labels[keep]
        return {"input_ids": ids, "labels": labels, "loss_scale": weights, "length": len(ids)}

    def _kept(self, length: int) -> slice | None:
        """The tokens truncation keeps of a row longer than max_length; None: `delete` drops it."""
        assert self.max_length is not None
        if self.truncation_strategy == "delete":
            return None
        if self.truncation_strategy == "left":
            return slice(length - self.max_length, length)
        return slice(0, self.max_length)


def _weight_runs(chunks: list[tuple[str, float]]) -> list[tuple[int, float]]:
    """Where each run of equally weighted chunks ends in the text, and its weight: a token
    takes the same weight whichever chunk of a run it ends in."""
    runs: list[tuple[int, float]] = []
    end = 0
    for text, weight in chunks:
        end += len(text)
        if runs and runs[-1][1] == weight:
            runs[-1] = (end, weight)
        else:
            runs.append((end, weight))
    return runs


def _user_piece(fmt: ChatFormat, out: list[tuple[str, str, int]]) -> str:
    """`user_after_reply` right after a reply's end-of-turn, else `user`."""
    after_reply = len(out) >= 2 and out[-2][0] == "end" and out[-1][0] == "sep"
    return fmt.user_after_reply if after_reply and fmt.user_after_reply is not None else fmt.user


def _tool_list(tools: Any) -> list[Any]:
    if tools is None or tools == "":
        return []
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except ValueError:
            raise TemplateError(
                f"tools must be a JSON list of function definitions, got {tools[:80]!r}"
            ) from None
    if not isinstance(tools, list):
        raise TemplateError(f"tools must be a list of function definitions, got {type(tools).__name__}")
    return tools
