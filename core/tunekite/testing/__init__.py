"""Test helpers every plugin can use: fake-plugin fixtures and conformance suites.

A plugin's test subclasses the suite for its kind and names its component::

    from tunekite.testing import TunerConformance

    class TestLora(TunerConformance):
        name = "lora"

The fixtures (`tk_host`, `tk_plugins`) come from `tunekite.testing.pytest_plugin`,
which pytest loads automatically once tunekite is installed.
"""

from tunekite.testing.browser import headless_chromium, missing_chromium, wait_for_http
from tunekite.testing.conformance import (
    ComponentConformance,
    DatasetConformance,
    EngineConformance,
    RewardConformance,
    TemplateConformance,
    TrainerConformance,
    TunerConformance,
)
from tunekite.testing.fakes import FakePlugins
from tunekite.testing.models import (
    CHATML_JINJA,
    save_tiny_chat_model,
    save_tiny_lora,
    tiny_causal_lm,
    tiny_lora_model,
)
from tunekite.testing.servers import deployed, serving
from tunekite.testing.steps import (
    assert_same_logits_and_grads,
    eval_logits,
    logits_and_grads,
    reloaded_logits,
    sgd_steps,
    training_batches,
)
from tunekite.testing.tokenizers import tiny_tokenizer

__all__ = [
    "CHATML_JINJA",
    "ComponentConformance",
    "DatasetConformance",
    "EngineConformance",
    "FakePlugins",
    "RewardConformance",
    "TemplateConformance",
    "TrainerConformance",
    "TunerConformance",
    "assert_same_logits_and_grads",
    "deployed",
    "eval_logits",
    "headless_chromium",
    "logits_and_grads",
    "missing_chromium",
    "reloaded_logits",
    "save_tiny_chat_model",
    "save_tiny_lora",
    "serving",
    "sgd_steps",
    "tiny_causal_lm",
    "tiny_lora_model",
    "tiny_tokenizer",
    "training_batches",
    "wait_for_http",
]
