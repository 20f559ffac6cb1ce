"""A local reward plugin for the trainer conformance runs (`--external_plugins`)."""

from tunekite.api import RewardSpec, hookimpl


def build(args):
    return lambda completions, **columns: [len(c) / 10 for c in completions]


@hookimpl
def tk_register_rewards(register):
    register(RewardSpec(name="conformance-length", summary="a tenth of the length", factory=build))
