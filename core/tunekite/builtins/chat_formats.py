"""Core's own template: ms-swift's plain `default` format, for models without a chat template."""

from tunekite.templates.format import ChatFormat

DEFAULT = ChatFormat(
    name="default",
    system="{content}\n\n",
    user="### Human:\n{content}\n\n",
    assistant_header="### Assistant:\n",
    assistant_end="{eos}",
    turn_sep="\n\n",
    jinja_parity=False,
)
