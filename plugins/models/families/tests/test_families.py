"""The model-type table: registered as ModelSpecs, with architectures transformers knows
unless the family's code ships with its weights."""

from __future__ import annotations

from tunekite.api import get_host
from tunekite_model_families.plugin import FAMILIES


def test_every_family_is_registered_with_its_table_row() -> None:
    models = get_host().registry("models")
    for family in FAMILIES:
        spec = models.get(family.name)
        assert (spec.template, spec.architectures) == (family.template, family.architectures)
        assert spec.default_system == family.default_system
        assert spec.trust_remote_code == family.trust_remote_code
        assert f"template {family.template}" in spec.summary


def test_architectures_without_remote_code_are_ones_transformers_implements() -> None:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    known = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    for family in FAMILIES:
        if not family.trust_remote_code:
            missing = set(family.architectures) - known
            assert not missing, f"{family.name}: transformers does not implement {missing}"


def test_remote_code_families_are_the_ones_transformers_lacks() -> None:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    known = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    remote = {f.name for f in FAMILIES if f.trust_remote_code}
    assert remote == {f.name for f in FAMILIES if not set(f.architectures) <= known}
