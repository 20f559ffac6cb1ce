"""The page's strings in Chinese and English (`--lang zh|en`, ms-swift's default zh)."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "zh": {
        "chatbot": "对话",
        "input": "输入消息，回车发送",
        "send": "发送",
        "clear": "清空对话",
        "settings": "生成设置",
        "system": "系统提示词",
        "system_placeholder": "留空则使用模板的默认系统提示词",
        "temperature": "温度（0 为贪心解码）",
        "max_tokens": "最大生成 token 数",
        "source_local": "模型：{name}（本地 {backend} 引擎）",
        "source_remote": "模型：{name}（服务：{url}）",
        "error": "生成失败：{error}",
    },
    "en": {
        "chatbot": "Chat",
        "input": "Type a message, Enter sends it",
        "send": "Send",
        "clear": "Clear history",
        "settings": "Generation settings",
        "system": "System prompt",
        "system_placeholder": "Leave empty for the template's default system prompt",
        "temperature": "Temperature (0 is greedy decoding)",
        "max_tokens": "Max new tokens",
        "source_local": "Model: {name} (local {backend} engine)",
        "source_remote": "Model: {name} (served by {url})",
        "error": "Generation failed: {error}",
    },
}


def strings(lang: str) -> dict[str, str]:
    """The strings of `lang` (zh or en)."""
    if lang not in STRINGS:
        raise ValueError(f"--lang {lang!r}: the page speaks {', '.join(STRINGS)}")
    return STRINGS[lang]
