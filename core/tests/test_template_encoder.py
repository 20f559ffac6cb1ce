"""The template engine: rendering, labels, loss scales, agents, truncation, resolution."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tunekite import hookimpl
from tunekite.arguments.groups import TemplateArguments
from tunekite.errors import ArgumentError
from tunekite.plugin_host import get_host
from tunekite.registrations import TemplateSpec
from tunekite.templates.encoder import IGNORE_INDEX, Template, TemplateError
from tunekite.templates.format import ChatFormat
from tunekite.templates.resolve import build_template, choose_template, detect_template, resolve_loss_scale
from tunekite.testing import tiny_tokenizer
from tunekite.testing.encoding import reference_encoding

CHAT = ChatFormat(
    name="test-chat",
    system="<|im_start|>system\n{content}<|im_end|>\n",
    user="<|im_start|>user\n{content}<|im_end|>\n",
    assistant_header="<|im_start|>assistant\n",
    assistant_end="<|im_end|>",
    turn_sep="\n",
)
TWO_ROUNDS = [
    {"role": "user", "content": "one"},
    {"role": "assistant", "content": "first answer"},
    {"role": "user", "content": "two"},
    {"role": "assistant", "content": "second answer"},
]
TOOLS = json.dumps(
    [{"type": "function", "function": {"name": "weather", "description": "Get weather", "parameters": {}}}]
)
AGENT_ROW = {
    "tools": TOOLS,
    "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Thought: I should look it up."},
        {"role": "tool_call", "content": json.dumps({"name": "weather", "arguments": {"city": "Paris"}})},
        {"role": "tool_response", "content": "SUNNY-22C"},
        {"role": "assistant", "content": "Final Answer: sunny"},
    ],
}


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer(None, ("<|im_start|>", "<|im_end|>"), eos_token="<|im_end|>")


def trained_text(tokenizer, sample) -> str:
    ids = [t for t, label in zip(sample["input_ids"], sample["labels"], strict=True) if label != IGNORE_INDEX]
    return tokenizer.decode(ids)


def template_args(**values) -> TemplateArguments:
    return TemplateArguments(**values)


def test_default_loss_scale_trains_every_reply(tokenizer):
    sample = Template.create(CHAT, tokenizer).encode({"messages": TWO_ROUNDS})
    assert trained_text(tokenizer, sample) == "first answer<|im_end|>second answer<|im_end|>"
    assert sample["length"] == len(sample["input_ids"]) == len(sample["loss_scale"])


def scaled(tokenizer, name: str) -> Template:
    """CHAT with the loss scale `--loss_scale NAME` names, resolved as `build_template` does."""
    return Template.create(
        CHAT, tokenizer, template_args(loss_scale=name), loss_scale=resolve_loss_scale(name, get_host())
    )


def test_last_round_trains_only_the_final_reply(tokenizer):
    sample = scaled(tokenizer, "last_round").encode({"messages": TWO_ROUNDS})
    assert trained_text(tokenizer, sample) == "second answer<|im_end|>"


def test_all_trains_prompts_too(tokenizer):
    sample = scaled(tokenizer, "all").encode({"messages": TWO_ROUNDS})
    assert IGNORE_INDEX not in sample["labels"]


def test_unknown_loss_scale_is_an_argument_error(tokenizer):
    with pytest.raises(ArgumentError, match=r"--loss_scale.*last_round"):
        scaled(tokenizer, "last_rnd")


def test_the_encoder_never_ignores_a_loss_scale_name(tokenizer):
    """The encoder looks nothing up: a named scale without the object is refused, not dropped."""
    with pytest.raises(TypeError, match=r"'all'.*loss_scale="):
        Template.create(CHAT, tokenizer, template_args(loss_scale="all"))


def test_build_template_hands_over_the_named_loss_scale(tk_plugins, tokenizer):
    args = template_args(template="default", loss_scale="last_round")
    template = build_template(tokenizer, args, host=tk_plugins.host, quiet=True)
    assert type(template.loss_scale).__name__ == "LastRound"


def test_system_argument_file_and_default(tokenizer, tmp_path):
    prompt = tmp_path / "system.txt"
    prompt.write_text("From a file.", encoding="utf-8")
    rendered = Template.create(CHAT, tokenizer, template_args(system=str(prompt))).render(TWO_ROUNDS)
    assert rendered.startswith("<|im_start|>system\nFrom a file.<|im_end|>\n")
    explicit = [{"role": "system", "content": "Row system."}, *TWO_ROUNDS]
    with_arg = Template.create(CHAT, tokenizer, template_args(system="Arg system."))
    assert "Row system." in with_arg.render(explicit)
    with pytest.raises(ArgumentError, match=r"missing\.txt"):
        Template.create(CHAT, tokenizer, template_args(system=str(tmp_path / "missing.txt")))


def test_system_merges_into_first_user_turn_without_a_system_role(tokenizer):
    from dataclasses import replace

    no_system = replace(CHAT, system=None, system_in_user="[{system}] {content}")
    rendered = Template.create(no_system, tokenizer).render([{"role": "system", "content": "S"}, *TWO_ROUNDS])
    assert rendered.startswith("<|im_start|>user\n[S] one<|im_end|>")


@pytest.mark.parametrize(
    ("strategy", "keep"),
    [("left", slice(-12, None)), ("right", slice(0, 12))],
)
def test_truncation_cuts_ids_labels_and_scales_together(tokenizer, strategy, keep):
    full = Template.create(CHAT, tokenizer).encode({"messages": TWO_ROUNDS})
    cut = Template.create(CHAT, tokenizer, template_args(max_length=12, truncation_strategy=strategy)).encode(
        {"messages": TWO_ROUNDS}
    )
    for column in ("input_ids", "labels", "loss_scale"):
        assert cut[column] == full[column][keep]
    assert cut["length"] == 12


def test_delete_truncation_drops_overlong_rows(tokenizer):
    template = Template.create(CHAT, tokenizer, template_args(max_length=12))
    assert template.encode({"messages": TWO_ROUNDS}) is None
    short = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    longer = Template.create(CHAT, tokenizer, template_args(max_length=40))
    assert longer.encode({"messages": short}) is not None


def test_react_agent_renders_tools_and_leaves_observations_untrained(tokenizer):
    template = Template.create(CHAT, tokenizer, template_args(tools_prompt="react_en"))
    text = template.render(AGENT_ROW["messages"], AGENT_ROW["tools"])
    assert "weather: Call this tool" in text and "Begin!" in text
    assert 'Action: weather\nAction Input: {"city": "Paris"}\nObservation: SUNNY-22C\n' in text
    trained = trained_text(tokenizer, template.encode(AGENT_ROW))
    assert "Action: weather" in trained and "Final Answer: sunny<|im_end|>" in trained
    assert "SUNNY" not in trained
    assert text.count("<|im_start|>assistant") == 1, "the whole ReAct exchange is one assistant turn"
    assert "Observation:" in template.stop_words


def test_react_loss_scale_weights_keywords(tokenizer):
    sample = scaled(tokenizer, "react").encode(AGENT_ROW)
    weights = {w for w in sample["loss_scale"]}
    assert {0.0, 1.0, 2.0} <= weights
    heavy = [t for t, w in zip(sample["input_ids"], sample["loss_scale"], strict=True) if w == 2.0]
    assert "Action" in tokenizer.decode(heavy)


def test_qwen_agent_puts_results_in_a_turn_of_their_own(tokenizer):
    template = Template.create(CHAT, tokenizer, template_args(tools_prompt="qwen"))
    text = template.render(AGENT_ROW["messages"], AGENT_ROW["tools"])
    assert "<tools>\n" in text and '"name": "weather"' in text
    assert '<tool_call>\n{"name": "weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>' in text
    assert "<|im_start|>user\n<tool_response>\nSUNNY-22C\n</tool_response><|im_end|>" in text
    assert "SUNNY" not in trained_text(tokenizer, template.encode(AGENT_ROW))


def test_bad_tool_call_and_bad_role_are_errors(tokenizer):
    template = Template.create(CHAT, tokenizer)
    bad_call = [{"role": "user", "content": "x"}, {"role": "tool_call", "content": "not json"}]
    with pytest.raises(TemplateError, match="tool_call content must be JSON"):
        template.encode({"messages": bad_call})
    late_system = [*TWO_ROUNDS[:2], {"role": "system", "content": "late"}]
    with pytest.raises(TemplateError, match="system must come first"):
        template.encode({"messages": late_system})
    with pytest.raises(ArgumentError, match="--tools_prompt"):
        Template.create(CHAT, tokenizer, template_args(tools_prompt="nope"))


def test_generation_template_when_chat_template_is_off(tokenizer):
    template = Template.create(CHAT, tokenizer, template_args(use_chat_template=False))
    assert template.render(TWO_ROUNDS) == "onefirst answer<|im_end|>twosecond answer<|im_end|>"


def test_jinja_backend_renders_prompts_with_the_tokenizer_and_refuses_an_inconsistent_template():
    """Its generation prompt `<<a>>` is not how it renders a reply (`<<assistant>>`): no
    reply can be cut out of the rendering, so training refuses, naming the reply."""
    jinja = (
        "{% for m in messages %}<<{{ m.role }}>>{{ m.content }}{% endfor %}"
        "{% if add_generation_prompt %}<<a>>{% endif %}"
    )
    tok = tiny_tokenizer(jinja, ("<|im_start|>", "<|im_end|>"))
    template = Template.create(CHAT, tok, template_args(template_backend="jinja"))
    assert template.render(TWO_ROUNDS[:1], generation=True) == "<<user>>one<<a>>"
    with pytest.raises(TemplateError, match=r"reply 1 \(message 1\): .*generation prompt"):
        template.encode({"messages": TWO_ROUNDS})


def test_template_spec_takes_its_name_from_the_format(tk_plugins, tokenizer):
    class Plugin:
        @staticmethod
        @hookimpl
        def tk_register_templates(register):
            register(TemplateSpec(format=CHAT, summary="t", chat_template_markers=("<<x>>",)))

    host = tk_plugins.add(Plugin)
    built = host.registry("templates").get("test-chat").build(tokenizer)
    assert built.name == "test-chat"
    assert built.render(TWO_ROUNDS[:1], generation=True).endswith("<|im_start|>assistant\n")
    assert detect_template("... <<x>> ...", host) == "test-chat"
    assert detect_template("nothing known", host) is None


def test_choose_template_order(tk_plugins, tokenizer):
    host = tk_plugins.host
    assert choose_template(tokenizer, "default", host=host) == ("default", "--template")
    assert choose_template(tokenizer, host=host)[0] == "default"  # no chat template at all
    jinja_tok = tiny_tokenizer("{{ messages }}")
    name, why = choose_template(jinja_tok, host=host)  # unmatched: the tokenizer's own template
    assert name == "jinja" and "no installed template matches" in why


def test_jinja_backend_and_no_chat_template_contradict():
    tok = tiny_tokenizer("{% for m in messages %}{{ m.content }}{% endfor %}")
    with pytest.raises(ArgumentError, match="--use_chat_template false turns off"):
        Template.create(CHAT, tok, template_args(template_backend="jinja", use_chat_template=False))


def test_a_template_name_that_disagrees_with_its_format_is_refused():
    with pytest.raises(ValueError, match="template 'other': its format is named"):
        TemplateSpec(name="other", format=CHAT, summary="s")


def test_a_template_without_a_format_names_itself_and_brings_its_factory(tk_plugins, tokenizer):
    def from_tokenizer(fmt, tok, args=None, *, loss_scale=None):
        assert fmt is None
        return Template.create(dataclasses.replace(CHAT, name="own"), tok, args, loss_scale=loss_scale)

    class Plugin:
        @staticmethod
        @hookimpl
        def tk_register_templates(register):
            register(TemplateSpec(name="own", summary="s", factory=from_tokenizer))

    built = tk_plugins.add(Plugin).registry("templates").get("own").build(tokenizer)
    assert built.name == "own"
    with pytest.raises(ValueError, match="give its ChatFormat"):
        TemplateSpec(name="nothing", summary="s")


@pytest.mark.parametrize("loss_scale", ["default", "react", "all"])
def test_a_batch_encodes_as_each_row_alone_and_as_the_tokenizer_offsets_say(tokenizer, loss_scale):
    rows = [
        {"messages": TWO_ROUNDS},
        AGENT_ROW,
        {"messages": [{"role": "user", "content": "学习?"}, {"role": "assistant", "content": "模型训练"}]},
        {"messages": [{"role": "system", "content": "be brief"}, *TWO_ROUNDS[:2]]},
    ]
    template = scaled(tokenizer, loss_scale)
    batched = template.encode_batch(rows)
    assert batched == [template.encode(row) for row in rows]
    assert batched == [reference_encoding(template, row) for row in rows]


def test_a_token_that_strips_the_space_after_it_keeps_rows_whole(tokenizer):
    """`<tool> word` with an rstrip token is `<tool> ` then `word`: splitting before the
    space would give ` word` instead, so such tokenizers are tokenized row by row, also
    when the token comes after the first batch."""
    from tokenizers import AddedToken

    stripping = tiny_tokenizer(None, ("<|im_start|>", "<|im_end|>"), eos_token="<|im_end|>")
    template = Template.create(CHAT, stripping)
    rows = [{"messages": [{"role": "user", "content": "call <tool> weather"}, TWO_ROUNDS[1]]}]
    template.encode_batch(rows)
    stripping.add_special_tokens({"additional_special_tokens": [AddedToken("<tool>", rstrip=True)]})
    assert template.encode_batch(rows) == [reference_encoding(template, row) for row in rows]
    assert "call <tool>weather" in stripping.decode(template.encode_batch(rows)[0]["input_ids"])


def test_words_cached_before_a_token_is_added_are_tokenized_again():
    growing = tiny_tokenizer(None, ("<|im_start|>", "<|im_end|>"), eos_token="<|im_end|>")
    template = Template.create(CHAT, growing)
    messages = [{"role": "user", "content": "say <x>"}, {"role": "assistant", "content": "ok <x>"}]
    rows = [{"messages": messages}]
    before = template.encode_batch(rows)
    growing.add_special_tokens({"additional_special_tokens": ["<x>"]})
    after = template.encode_batch(rows)
    assert after == [reference_encoding(template, row) for row in rows]
    assert after != before and growing.convert_tokens_to_ids("<x>") in after[0]["input_ids"]
