"""GLM-4 against the chat template glm-4-9b-chat ships (tokenizer_config.json).

Not full parity, by design: GLM-4 has no end-of-turn token. The chat template writes a
reply and then the next `<|user|>`, and nothing after the last reply; the model stops on
`<|user|>` (an EOS id in its generation config). We train that `<|user|>` as each reply's
end, so a finished conversation has one more token than the template's: the trailing
`<|user|>`. Everything else matches, checked below: every generation prompt exactly, and
every conversation up to that last token.
"""

from tunekite.testing import TemplateConformance

GLM4 = (
    "[gMASK]<sop>{% for item in messages %}{% if item['tools'] is defined %}<|system|>\n"
    "你是一个名为 ChatGLM 的人工智能助手。你是基于智谱AI训练的语言模型 GLM-4 模型开发的，"
    "你的任务是针对用户的问题和要求提供适当的答复和支持。\n\n# 可用工具"
    "{% set tools = item['tools'] %}{% for tool in tools %}{% if tool['type'] == 'function' %}\n\n"
    "## {{ tool['function']['name'] }}\n\n{{ tool['function'] | tojson(indent=4) }}\n"
    "在调用上述函数时，请使用 Json 格式表示调用的参数。"
    "{% elif tool['type'] == 'python' %}\n\n## python\n\n"
    "当你向 `python` 发送包含 Python 代码的消息时，该代码将会在一个有状态的 Jupyter notebook 环境中执行。\n"
    "`python` 返回代码执行的输出，或在执行 60 秒后返回超时。\n"
    "`/mnt/data` 将会持久化存储你的文件。在此会话中，python 无法访问互联网。"
    "不要使用 python 进行任何网络请求或者在线 API 调用，这些在线功能不会起作用。"
    "{% elif tool['type'] == 'simple_browser' %}\n\n## simple_browser\n\n"
    "你可以使用 `simple_browser` 工具。该工具支持以下函数：\n"
    "`search(query: str, recency_days: int)`：使用搜索引擎进行查询并显示结果，"
    "可以使用 `recency_days` 参数控制搜索内容的时效性。\n"
    "`mclick(ids: list[int])`：获取一系列指定 id 的页面内容。每次调用时，须选择3-10个页面。"
    "选择多个角度的页面，同时尽可能选择可信任的信息来源。考虑到部分页面是无法加载的，"
    "你也可以多打开一些可能有用的页面而不用担心内容过多。\n"
    "`open_url(url: str)`：打开指定的 URL。\n\n"
    "使用 `【{引用 id}†{引用文本}】` 来引用内容。\n\n操作步骤：1. 使用 `search` 来获得信息列表; "
    "2. 使用 `mclick` 来获取指定 ID 页面的内容; 3. 根据获得的内容进行回复。在回复中应当引用信息来源。\n"
    " 如果用户提供了 URL，也可以用 `open_url` 直接打开页面。\n"
    "如果初次搜索结果没有找到合适的信息，也可以再次使用 `search` 进行搜索。"
    "{% elif tool['type'] == 'cogview' %}\n\n## cogview\n\n"
    "如果用户的请求中包含了对图像的描述，你可以使用 `cogview` 来生成图像并展示给用户。"
    "你需要向 `cogview` 发送图像描述，规则：\n"
    "- 发送给 `cogview` 的消息必须使用英语。用户的中文描述必须完全翻译为英语。\n"
    "- 应当尽可能详细地描述图像生成的需求，需求描述约 100 英文单词。\n"
    "- 保持用户原始描述的意图。不要虚构内容或者没见过的人物。\n"
    "- 如无特殊说明，所在地为中国，持有中国立场并遵循中国社会主义价值观。"
    "{% endif %}{% endfor %}{% endif %}"
    "{% if item['content'] %}<|{{ item['role'] }}|>{{ item['metadata'] }}\n{{ item['content'] }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


class TestGlm4(TemplateConformance):
    name = "glm4"
    chat_template = GLM4
    special_tokens = ("[gMASK]", "<sop>", "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>")
    eos_token = "<|endoftext|>"

    def test_matches_the_chat_template_but_for_the_trained_final_user_token(self) -> None:
        tokenizer = self.tokenizer()
        template = self.template(tokenizer)
        user_id = tokenizer.convert_tokens_to_ids("<|user|>")
        for title, conversation in self.conversations().items():
            ours = template.encode({"messages": conversation})["input_ids"]
            jinja = tokenizer.apply_chat_template(conversation, tokenize=False)
            assert ours == tokenizer(jinja, add_special_tokens=False)["input_ids"] + [user_id], title
            for end, message in enumerate(conversation):
                if message["role"] == "user":
                    prompt = conversation[: end + 1]
                    jinja = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
                    expected = tokenizer(jinja, add_special_tokens=False)["input_ids"]
                    assert template.prompt_ids(prompt) == expected, title

    def test_multi_turn_writes_each_user_token_once(self) -> None:
        template = self.template()
        text = template.render(
            [
                {"role": "system", "content": "S"},
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"},
                {"role": "assistant", "content": "d"},
            ]
        )
        assert text == (
            "[gMASK]<sop><|system|>\nS<|user|>\na<|assistant|>\nb<|user|>\nc<|assistant|>\nd<|user|>"
        )
