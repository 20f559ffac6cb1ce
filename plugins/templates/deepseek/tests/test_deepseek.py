"""DeepSeek-V3 and DeepSeek-R1 against the chat templates they ship (tokenizer_config.json
of DeepSeek-V3 and DeepSeek-R1; V2.5's renders the same for these conversations)."""

from tunekite.testing import TemplateConformance

DEEPSEEK_V3 = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', "
    "is_first_sp=true) %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}"
    "{% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}"
    "{%- else %}{% set ns.system_prompt = ns.system_prompt + '\\n\\n' + message['content'] %}"
    "{%- endif %}{%- endif %}{%- endfor %}"
    "{{ bos_token }}{{ ns.system_prompt }}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}"
    "{%- endif %}"
    "{%- if message['role'] == 'assistant' and 'tool_calls' in message %}{%- set ns.is_tool = false -%}"
    "{%- for tool in message['tool_calls'] %}{%- if not ns.is_first %}{%- if message['content'] is none %}"
    "{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + "
    "tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + "
    "'<｜tool▁call▁end｜>'}}"
    "{%- else %}"
    "{{'<｜Assistant｜>' + message['content'] + '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' "
    "+ tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n' "
    "+ tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}"
    "{%- endif %}{%- set ns.is_first = true -%}"
    "{%- else %}"
    "{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] "
    "+ '\\n' + "
    "'```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}"
    "{%- endif %}{%- endfor %}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and 'tool_calls' not in message %}{%- if ns.is_tool %}"
    "{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}"
    "{%- set ns.is_tool = false -%}"
    "{%- else %}"
    "{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}"
    "{%- endif %}{%- endif %}"
    "{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}"
    "{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}"
    "{%- set ns.is_output_first = false %}"
    "{%- else %}{{'\\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}"
    "{%- endif %}{%- endif %}"
    "{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}"
    "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜>'}}{% endif %}"
)

# R1's template is V3's with two changes: each reply loses everything up to `</think>`,
# and the generation prompt opens the reasoning (`<｜Assistant｜><think>\n`).
_V3_REPLY = "{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}"
_V3_PROMPT = "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜>'}}{% endif %}"
assert DEEPSEEK_V3.count(_V3_REPLY) == 1 and DEEPSEEK_V3.count(_V3_PROMPT) == 1
DEEPSEEK_R1 = DEEPSEEK_V3.replace(
    _V3_REPLY,
    "{% set content = message['content'] %}{% if '</think>' in content %}"
    "{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}",
).replace(
    _V3_PROMPT, "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
)

SPECIALS = ("<｜User｜>", "<｜Assistant｜>", "<think>", "</think>")
BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"


class TestDeepseek(TemplateConformance):
    name = "deepseek"
    chat_template = DEEPSEEK_V3
    special_tokens = SPECIALS
    bos_token = BOS
    eos_token = EOS


class TestDeepseekR1(TemplateConformance):
    """`jinja_parity=False`, for two reasons. R1's generation prompt ends with `<think>\\n`,
    which the engine cannot add to prompts without also writing it into every earlier
    reply's header (it has no generation-only prefix). And R1's template drops the
    reasoning from the final reply too, where we keep it to train on it (as ms-swift
    does). What matches is checked below: whole conversations whose replies carry no
    reasoning, and every generation prompt up to that `<think>\\n`."""

    name = "deepseek_r1"
    chat_template = DEEPSEEK_R1
    special_tokens = SPECIALS
    bos_token = BOS
    eos_token = EOS

    def test_matches_the_chat_template_but_for_the_opening_think(self) -> None:
        tokenizer = self.tokenizer()
        template = self.template(tokenizer)
        for title, conversation in self.conversations().items():
            ours = template.encode({"messages": conversation})["input_ids"]
            jinja = tokenizer.apply_chat_template(conversation, tokenize=False)
            assert ours == tokenizer(jinja, add_special_tokens=False)["input_ids"], title
            for end, message in enumerate(conversation):
                if message["role"] == "user":
                    prompt = conversation[: end + 1]
                    jinja = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
                    assert jinja.endswith("<think>\n")
                    opened = jinja.removesuffix("<think>\n")
                    expected = tokenizer(opened, add_special_tokens=False)["input_ids"]
                    assert template.prompt_ids(prompt) == expected, title

    def test_reasoning_is_dropped_from_history_and_trained_on_the_final_reply(self) -> None:
        tokenizer = self.tokenizer()
        template = self.template(tokenizer)
        conversation = [
            {"role": "user", "content": "2 + 2?"},
            {"role": "assistant", "content": "<think>\nsmall sum\n</think>\n\n4."},
            {"role": "user", "content": "3 + 3?"},
            {"role": "assistant", "content": "<think>\nanother sum\n</think>\n\n6."},
        ]
        text = template.render(conversation)
        assert "small sum" not in text and "<｜Assistant｜>\n\n4." in text
        assert text.endswith("<｜Assistant｜><think>\nanother sum\n</think>\n\n6." + EOS)
