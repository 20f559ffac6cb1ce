"""`resolve` and `start`: argument groups of the selected components, args.json, output folders."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tunekite import hookimpl
from tunekite.api import resolve, start
from tunekite.arguments.fields import arg
from tunekite.errors import ArgumentError, DuplicateNameError, UnknownNameError
from tunekite.launcher import Run
from tunekite.onednn_cache import CAPACITY, CAPACITY_VARIABLE
from tunekite.plugin_host import CUSTOM_PATH_ENV, PluginHost
from tunekite.registrations import RewardSpec, TaskSpec, TrainerSpec, TunerSpec


@dataclass(kw_only=True)
class EchoArguments:
    echo_times: int = arg(1, help="how often to echo")
    echo_words: list[str] = arg(default_factory=list, help="words to echo")
    echo_loud: bool = arg(False, help="shout")


@dataclass(kw_only=True)
class ClashingArguments:
    seed: int = arg(0, help="clashes with the common group's seed")


def plugin(**hooks):
    return type("FakePlugin", (), {name: staticmethod(fn) for name, fn in hooks.items()})


@pytest.fixture
def echo(tk_plugins) -> tuple[PluginHost, list[Run]]:
    """An isolated host with an `echo` trainer (so it gets a run folder) whose factory
    records the run it gets."""
    received: list[Run] = []

    def factory(run: Run) -> str:
        received.append(run)
        return "echoed"

    @hookimpl
    def tk_register_trainers(register):
        register(TrainerSpec(name="echo", summary="Echo the arguments", groups=("model",),
                             args=EchoArguments, factory=factory))

    host = tk_plugins.add(plugin(tk_register_trainers=tk_register_trainers), name="echo",
                          distribution="dist-echo")
    return host, received


@pytest.fixture(scope="module")
def real_host() -> PluginHost:
    """Built-ins plus the installed plugins (lora, keyword-reward), no env switches."""
    return PluginHost(env={})


def read_args(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "args.json").read_text(encoding="utf-8"))


# -- start: args.json and output folders ---------------------------------------------


def test_start_writes_args_json_and_calls_factory(echo, tmp_path, monkeypatch) -> None:
    host, received = echo
    monkeypatch.chdir(tmp_path)
    result = start("echo", ["--output_dir", "out", "--echo_times", "3", "--echo_words", "a", "b",
                            "--echo-loud", "--model", "m"], host)
    assert result == "echoed"
    (run,) = received
    assert (run.echo_times, run.echo_words, run.echo_loud, run.model) == (3, ["a", "b"], True, "m")
    assert re.fullmatch(r"v0-\d{8}-\d{6}", run.output_dir.name)
    assert run.output_dir.parent == Path("out")
    saved = read_args(tmp_path / run.output_dir)
    got = (saved["echo_times"], saved["echo_words"], saved["model"], saved["seed"])
    assert got == (3, ["a", "b"], "m", 42)
    manifest = saved["tunekite"]
    assert manifest["command"] == "echo"
    assert {"name": "echo", "distribution": "dist-echo"}.items() <= manifest["plugins"][-1].items()
    assert [p["name"] for p in manifest["plugins"]] == ["builtins", "echo"]


def test_second_start_makes_next_version(echo, tmp_path, monkeypatch) -> None:
    host, received = echo
    monkeypatch.chdir(tmp_path)
    start("echo", ["--output_dir", "out"], host)
    start("echo", ["--output_dir", "out"], host)
    assert [r.output_dir.name[:3] for r in received] == ["v0-", "v1-"]
    assert sorted(p.name[:3] for p in Path("out").iterdir()) == ["v0-", "v1-"]


def test_no_add_version_writes_into_output_dir(echo, tmp_path, monkeypatch) -> None:
    host, received = echo
    monkeypatch.chdir(tmp_path)
    start("echo", ["--output_dir", "out", "--add_version", "false"], host)
    assert received[0].output_dir == Path("out")
    assert read_args(tmp_path / "out")["add_version"] is False


def test_default_output_dir_is_named_after_model_or_command(echo, tmp_path, monkeypatch) -> None:
    host, received = echo
    monkeypatch.chdir(tmp_path)
    start("echo", ["--model", "/models/SmolLM2-135M"], host)
    start("echo", [], host)
    assert received[0].output_dir.parent == Path("output/SmolLM2-135M")
    assert received[1].output_dir.parent == Path("output/echo")


def test_load_args_reproduces_and_cli_overrides(echo, tmp_path, monkeypatch) -> None:
    host, received = echo
    monkeypatch.chdir(tmp_path)
    start("echo", ["--output_dir", "out", "--echo_times", "3", "--echo_words", "x", "--model", "m"], host)
    first = tmp_path / received[0].output_dir
    start("echo", ["--load_args", str(first), "--echo_times", "5"], host)
    second = received[1]
    assert (second.echo_times, second.echo_words, second.model) == (5, ["x"], "m")
    assert second.output_dir.parent == Path("out")
    assert read_args(tmp_path / second.output_dir)["load_args"] == str(first)


def test_config_file_is_overridden_by_cli(echo, tmp_path, monkeypatch) -> None:
    host, received = echo
    monkeypatch.chdir(tmp_path)
    Path("run.yaml").write_text("echo-times: 7\necho_words: [p, q]\noutput_dir: cfg\n", encoding="utf-8")
    start("echo", ["-c", "run.yaml", "--echo_times", "8"], host)
    (run,) = received
    assert (run.echo_times, run.echo_words, run.output_dir.parent) == (8, ["p", "q"], Path("cfg"))


def test_unknown_yaml_key_names_the_file(echo, tmp_path) -> None:
    host, _ = echo
    config = tmp_path / "run.yaml"
    config.write_text("echo_time: 7\n", encoding="utf-8")
    expected = r"run.yaml: unknown argument --echo_time\. Did you mean --echo_times"
    with pytest.raises(ArgumentError, match=expected):
        resolve("echo", ["-c", str(config)], host)


def test_nothing_written_when_arguments_are_bad(echo, tmp_path, monkeypatch) -> None:
    host, received = echo
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ArgumentError, match="--echo_times expects int"):
        start("echo", ["--echo_times", "many"], host)
    assert received == [] and not Path("output").exists()


# -- resolve ---------------------------------------------------------------------------


def test_run_groups_and_flat_access(echo) -> None:
    host, _ = echo
    run, wants_help = resolve("echo", ["--echo_times", "2"], host)
    assert wants_help is False
    assert list(run.groups) == ["common", "model", "trainers:echo"]
    assert run.groups["trainers:echo"] == EchoArguments(echo_times=2)
    assert run.echo_times == 2 and run.seed == 42
    with pytest.raises(AttributeError, match="no argument named 'learning_rate'"):
        _ = run.learning_rate


def test_help_is_reported_not_acted_on(echo) -> None:
    host, _ = echo
    assert resolve("echo", ["--help"], host)[1] is True
    assert resolve("echo", ["-h", "--echo_times", "2"], host)[1] is True


def test_unknown_option_is_an_error_with_suggestion(echo) -> None:
    host, _ = echo
    with pytest.raises(ArgumentError, match=r"unknown argument --echo_tims\. Did you mean --echo_times\?"):
        resolve("echo", ["--echo-tims", "2"], host)


def test_option_of_a_group_the_runnable_does_not_take(echo) -> None:
    host, _ = echo
    with pytest.raises(ArgumentError, match="unknown argument --learning_rate"):
        resolve("echo", ["--learning_rate", "1e-4"], host)


def test_unknown_runnable_suggests_closest(echo) -> None:
    host, _ = echo
    with pytest.raises(UnknownNameError, match=r"Unknown trainer or task 'ecoh'\. Did you mean 'echo'\? "
                                               r"Available: (.+, )?echo, (.+, )?pt, sft\."):
        resolve("ecoh", [], host)


def test_runnable_asking_for_unknown_group(tk_plugins) -> None:
    def tk_register_tasks(register):
        register(TaskSpec(name="odd", summary="s", groups=("modle",), factory="a:b"))

    host = tk_plugins.add(plugin(tk_register_tasks=tk_register_tasks), name="odd")
    with pytest.raises(ArgumentError, match=r"task 'odd' asks for unknown argument group\(s\) \['modle'\]"):
        resolve("odd", [], host)


def test_component_field_clashing_with_core_names_its_distribution(tk_plugins) -> None:
    def tk_register_tuners(register):
        register(TunerSpec(name="clashy", summary="s", args=ClashingArguments, factory="a:b"))

    host = tk_plugins.add(plugin(tk_register_tuners=tk_register_tuners), name="c", distribution="dist-c")
    expected = r"--seed is declared by both Common \(tunekite\) and tuner clashy \(dist-c\)"
    with pytest.raises(ArgumentError, match=expected):
        resolve("sft", ["--tuner", "clashy"], host)


def test_runnable_field_clash_names_the_plugin_distribution(tk_plugins) -> None:
    def tk_register_tasks(register):
        register(TaskSpec(name="clashy", summary="s", args=ClashingArguments, factory="a:b"))

    host = tk_plugins.add(plugin(tk_register_tasks=tk_register_tasks), name="c", distribution="dist-c")
    with pytest.raises(ArgumentError, match=r"task clashy \(dist-c\)"):
        resolve("clashy", [], host)


def test_trainer_and_task_with_same_name_is_a_conflict(tk_plugins) -> None:
    def tk_register_tasks(register):
        register(TaskSpec(name="sft", summary="a task shadowed by the sft trainer", factory="a:b"))

    host = tk_plugins.add(plugin(tk_register_tasks=tk_register_tasks), name="t", distribution="dist-t")
    with pytest.raises(DuplicateNameError, match="dist-t"):
        resolve("sft", ["--tuner", "full"], host)


def test_unrelated_conflict_does_not_hide_unknown_option_message(tk_plugins) -> None:
    def tk_register_rewards(register):
        register(RewardSpec(name="same", summary="s", factory="a:b"))

    tk_plugins.add(plugin(tk_register_rewards=tk_register_rewards), name="r1", distribution="dist-1")
    host = tk_plugins.add(plugin(tk_register_rewards=tk_register_rewards), name="r2", distribution="dist-2")
    with pytest.raises(ArgumentError, match="unknown argument --nope"):
        resolve("sft", ["--tuner", "full", "--nope", "1"], host)


def test_selected_component_can_select_further_components(tk_plugins) -> None:
    @dataclass(kw_only=True)
    class ChainArguments:
        chain_reward: str = arg("keywordish", selects="rewards", help="reward used by the tuner")

    @dataclass(kw_only=True)
    class KeywordishArguments:
        keywordish_weight: float = arg(1.0, help="weight")

    def tk_register_tuners(register):
        register(TunerSpec(name="chain", summary="s", args=ChainArguments, factory="a:b"))

    def tk_register_rewards(register):
        register(RewardSpec(name="keywordish", summary="s", args=KeywordishArguments, factory="a:b"))

    host = tk_plugins.add(plugin(tk_register_tuners=tk_register_tuners,
                                 tk_register_rewards=tk_register_rewards), name="chain")
    run, _ = resolve("sft", ["--tuner", "chain", "--keywordish_weight", "0.5"], host)
    assert run.component("rewards").name == "keywordish"
    assert run.groups["rewards:keywordish"].keywordish_weight == 0.5
    assert run.manifest()["components"] == {
        "tuners": ["chain"],
        "rewards": ["keywordish"],
        "loss_scales": ["default"],
    }


def test_a_selector_may_take_a_path_or_a_value_that_selects_nothing(tk_plugins, tmp_path) -> None:
    @dataclass(kw_only=True)
    class ScoreArguments:
        score_with: str | None = arg(
            None, selects="rewards", selects_path="by_model", selects_nothing=("no",), help="reward or folder"
        )

    @dataclass(kw_only=True)
    class ByModelArguments:
        by_model_batch: int = arg(4, help="batch")

    def tk_register_tasks(register):
        register(TaskSpec(name="score", summary="s", args=ScoreArguments, factory="a:b"))

    def tk_register_rewards(register):
        register(RewardSpec(name="by_model", summary="s", args=ByModelArguments, factory="a:b"))
        register(RewardSpec(name="plain", summary="s", factory="a:b"))

    hooks = plugin(tk_register_tasks=tk_register_tasks, tk_register_rewards=tk_register_rewards)
    host = tk_plugins.add(hooks, name="score")
    run, _ = resolve("score", ["--score_with", str(tmp_path), "--by_model_batch", "8"], host)
    assert run.component("rewards").name == "by_model" and run.groups["rewards:by_model"].by_model_batch == 8
    assert run.score_with == str(tmp_path)  # the task reads the folder from its own argument
    assert resolve("score", ["--score_with", "plain"], host)[0].component("rewards").name == "plain"
    assert "rewards" not in resolve("score", ["--score_with", "no"], host)[0].components
    with pytest.raises(ArgumentError, match=r"--score_with: Unknown reward 'nowhere/at/all'"):
        resolve("score", ["--score_with", "nowhere/at/all"], host)


def test_missing_default_tuner_says_what_to_install(tk_plugins) -> None:
    with pytest.raises(ArgumentError, match=r"--tuner: Unknown tuner 'lora'.*pip install tunekite-lora"):
        resolve("sft", [], tk_plugins.host)


# -- custom_register_path through a run ------------------------------------------------


TASK_FILE = """
from tunekite.api import TrainerSpec, hookimpl

def record(run):
    return ("ran", run.output_dir)

@hookimpl
def tk_register_trainers(register):
    register(TrainerSpec(name="localtask", summary="from a local file", factory=record))
"""


def test_custom_register_path_is_loaded_saved_and_reloaded(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CUSTOM_PATH_ENV, "")  # start() exports worker env; restored afterwards
    Path("local_plugin.py").write_text(TASK_FILE, encoding="utf-8")
    host = PluginHost(env={}, autoload=False)
    outcome = start("localtask", ["--external_plugins", "local_plugin.py", "--output_dir", "o"], host)
    assert outcome[0] == "ran"
    saved = read_args(tmp_path / outcome[1])
    assert saved["custom_register_path"] == [str((tmp_path / "local_plugin.py").resolve())]
    assert any(p["source"] == "file" for p in saved["tunekite"]["plugins"])
    import os

    assert os.environ[CUSTOM_PATH_ENV] == saved["custom_register_path"][0]
    fresh = PluginHost(env={}, autoload=False)
    run, _ = resolve("localtask", ["--load_args", str(tmp_path / outcome[1])], fresh)
    assert run.spec.name == "localtask"


# -- the real host: sft with lora or full ------------------------------------------------


def test_sft_with_lora_includes_lora_group(real_host) -> None:
    run, _ = resolve("sft", ["--tuner", "lora", "--lora-rank", "4", "--dataset", "a.jsonl"], real_host)
    assert run.component("tuners").name == "lora"
    assert run.groups["tuners:lora"].lora_rank == 4
    assert run.component_args(run.component("tuners")) is run.groups["tuners:lora"]
    assert run.lora_rank == 4 and run.dataset == ["a.jsonl"]
    assert "lora_rank" in run.values()


def test_lora_option_with_full_tuner_says_who_owns_it(real_host) -> None:
    with pytest.raises(ArgumentError) as info:
        resolve("sft", ["--tuner", "full", "--lora_rank", "4"], real_host)
    message = str(info.value)
    assert "--lora_rank: belongs to tuner 'lora' (tunekite-lora)" in message
    assert "which this run does not use (the selected one is 'full')" in message


def test_lora_key_in_yaml_with_full_tuner_names_the_file(real_host, tmp_path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("tuner: full\nlora_rank: 4\n", encoding="utf-8")
    with pytest.raises(ArgumentError, match=r"run.yaml: --lora_rank: belongs to tuner 'lora'"):
        resolve("sft", ["-c", str(config)], real_host)


@pytest.mark.parametrize("option", ["--train_type", "--sft_type", "--train-type"])
def test_tuner_aliases(real_host, option: str) -> None:
    run, _ = resolve("sft", [option, "full"], real_host)
    assert run.tuner == "full"
    assert "tuners:full" in run.groups


@pytest.mark.parametrize(("tuner", "lr"), [("lora", 1e-4), ("full", 1e-5)])
def test_learning_rate_default_depends_on_tuner(real_host, tuner: str, lr: float) -> None:
    run, _ = resolve("sft", ["--tuner", tuner], real_host)
    assert run.learning_rate == lr


def test_explicit_learning_rate_wins(real_host) -> None:
    run, _ = resolve("sft", ["--tuner", "full", "--learning_rate", "3e-4"], real_host)
    assert run.learning_rate == 3e-4


def test_unknown_tuner_suggests_closest(real_host) -> None:
    with pytest.raises(ArgumentError, match=r"--tuner: Unknown tuner 'lroa'\. Did you mean 'lora'\?"):
        resolve("sft", ["--tuner", "lroa"], real_host)


def test_tuner_validation_error_names_the_group(real_host) -> None:
    with pytest.raises(ArgumentError, match=r"tuner lora: lora_rank must be at least 1, got 0"):
        resolve("sft", ["--tuner", "lora", "--lora_rank", "0"], real_host)


def test_sft_args_json_names_the_components(real_host, tmp_path, monkeypatch) -> None:
    from tunekite.run_folder import write_args

    run, _ = resolve("sft", ["--tuner", "lora"], real_host)
    saved = read_args(write_args(run, tmp_path).parent)
    assert (saved["tuner"], saved["lora_rank"], saved["learning_rate"]) == ("lora", 8, 1e-4)
    assert saved["tunekite"]["components"] == {"tuners": ["lora"], "loss_scales": ["default"]}
    assert "tunekite-lora" in [p["distribution"] for p in saved["tunekite"]["plugins"]]


def test_a_failed_start_leaves_no_run_folder(real_host, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ArgumentError, match="No model given: pass --model"):
        start("sft", ["--tuner", "lora", "--output_dir", "o/deep", "--add_version", "false"], real_host)
    with pytest.raises(ArgumentError, match="No model given"):
        start("sft", ["--tuner", "lora"], real_host)
    assert list(tmp_path.iterdir()) == []


def test_pt_defaults_train_every_token_and_can_be_overridden(real_host) -> None:
    pt, _ = resolve("pt", [], real_host)
    assert (pt.loss_scale, pt.use_chat_template) == ("all", False)
    assert pt.component("loss_scales").name == "all"
    chat, _ = resolve("pt", ["--use_chat_template", "true", "--loss_scale", "default"], real_host)
    assert (chat.loss_scale, chat.use_chat_template) == ("default", True)
    sft, _ = resolve("sft", [], real_host)
    assert (sft.loss_scale, sft.use_chat_template) == ("default", True)


def test_unknown_runnable_in_real_host(real_host) -> None:
    with pytest.raises(UnknownNameError, match=r"Did you mean 'sft'\?"):
        resolve("stf", [], real_host)


def test_trainer_spec_defaults_include_run_group(real_host) -> None:
    spec = real_host.registry("trainers").get("sft")
    assert isinstance(spec, TrainerSpec)
    run, _ = resolve("sft", ["--tuner", "full"], real_host)
    assert list(run.groups)[:2] == ["common", "model"]
    assert run.values()["seed"] == 42


@dataclass(kw_only=True)
class FastArguments:
    fast_steps: int = arg(1, help="steps of the fast trainer")


@dataclass(kw_only=True)
class SlowArguments:
    slow_depth: int = arg(1, help="depth of the slow trainer")


@dataclass(kw_only=True)
class WhichArguments:
    which: str = arg("fast", help="the trainer the alias runs")


@pytest.fixture
def two_trainers(tk_plugins) -> PluginHost:
    """Trainers `fast` and `slow`, each with its own arguments, and `either`, an alias
    that runs the one `--which` names."""

    @hookimpl
    def tk_register_trainers(register):
        for name, args in (("fast", FastArguments), ("slow", SlowArguments)):
            register(TrainerSpec(name=name, summary=name, args=args, factory=lambda run: run))
        register(TrainerSpec(name="either", summary="alias", args=WhichArguments, dispatch="which",
                             factory=lambda run: run))  # fmt: skip

    return tk_plugins.add(plugin(tk_register_trainers=tk_register_trainers), name="t", distribution="dist-t")


def test_an_alias_resolves_to_the_trainer_its_argument_names(two_trainers) -> None:
    run, _ = resolve("either", ["--which", "slow", "--slow_depth", "3"], two_trainers)
    assert run.spec.name == "slow" and run.command == "either"
    assert run.component_args(run.spec).slow_depth == 3 and run.values()["which"] == "slow"
    assert resolve("either", [], two_trainers)[0].spec.name == "fast"
    with pytest.raises(
        ArgumentError, match="--slow_depth: belongs to the trainer 'slow' \\(dist-t\\), not to"
    ):
        resolve("either", ["--fast_steps", "2", "--slow_depth", "3"], two_trainers)
    with pytest.raises(ArgumentError, match="--which: Unknown trainer 'nope'"):
        resolve("either", ["--which", "nope"], two_trainers)


def test_an_argument_of_another_trainer_names_it(two_trainers) -> None:
    with pytest.raises(
        ArgumentError, match=r"--fast_steps: belongs to the trainer 'fast' \(dist-t\), not to trainer 'slow'"
    ):
        resolve("slow", ["--fast_steps", "9"], two_trainers)


def test_a_run_bounds_onednns_primitive_cache_unless_the_user_did(echo, tmp_path, monkeypatch) -> None:
    host, _ = echo
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CAPACITY_VARIABLE, "restored after the test")
    monkeypatch.delenv(CAPACITY_VARIABLE)
    start("echo", ["--output_dir", "out"], host)
    assert os.environ[CAPACITY_VARIABLE] == str(CAPACITY) == "64"
    monkeypatch.setenv(CAPACITY_VARIABLE, "512")
    start("echo", ["--output_dir", "out"], host)
    assert os.environ[CAPACITY_VARIABLE] == "512"
