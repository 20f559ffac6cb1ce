"""`tk run sample` on a tiny model: best-of-N through the pt engine, the two-step
generate-then-score mode, rewards from a local plugin, sharding, and MCTS (on the tiny
model, and on a scripted engine whose steps make the tree checkable)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tunekite.api import ArgumentError, PluginHost, start
from tunekite.testing import save_tiny_chat_model

FAKES = str(Path(__file__).with_name("fake_plugins.py"))
PROMPTS = 6
N = 4


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "tiny-chat")


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prompts with a `solution` column; the first ends with a reference reply, as SFT rows do."""
    rows: list[dict[str, Any]] = [
        {"messages": [{"role": "user", "content": f"what is {i} plus {i}?"}], "solution": str(2 * i)}
        for i in range(PROMPTS)
    ]
    rows[0]["messages"].append({"role": "assistant", "content": "0"})
    path = tmp_path_factory.mktemp("data") / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def sample(model_dir: Path, prompts: Path, out: Path, *extra: str) -> list[dict[str, Any]]:
    """`tk run sample` in this process (a fresh plugin host, with the local fakes); the rows."""
    argv = [
        "--model", str(model_dir), "--dataset", str(prompts), "--output_dir", str(out.parent),
        "--output_file", out.name, "--custom_register_path", FAKES, "--max_new_tokens", "6", *extra,
    ]  # fmt: skip
    target = start("sample", argv, PluginHost())
    assert target == out
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def generated(model_dir: Path, prompts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Step one of the two-step mode: N completions per prompt, no rewards."""
    out = tmp_path_factory.mktemp("step1") / "all.jsonl"
    sample(
        model_dir, prompts, out, "--num_return_sequences", str(N), "--num_sampling_per_gpu_batch_size", "3"
    )
    return out


def grouped(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(row["id"], []).append(row["messages"][-1]["content"])
    return groups


def test_without_rewards_every_completion_is_a_row_with_its_prompt_and_columns(generated: Path) -> None:
    rows = [json.loads(line) for line in generated.read_text().splitlines()]
    assert len(rows) == PROMPTS * N
    groups = grouped(rows)
    assert len(groups) == PROMPTS and all(len(g) == N for g in groups.values())
    first = rows[0]
    # the reference reply of an SFT row is dropped: the prompt ends with the user turn
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"]
    assert first["solution"] == "0" and "rejected_response" not in first
    assert len({c for g in groups.values() for c in g}) > PROMPTS  # temperature 1 samples differ


def test_cached_completions_are_scored_without_a_model_and_the_longest_is_kept(
    generated: Path, model_dir: Path, prompts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tunekite.api

    def no_engine(run: Any) -> Any:
        raise AssertionError("scoring --cache_files must not load a model")

    monkeypatch.setattr(tunekite.api, "engine_for", no_engine)
    cached = grouped([json.loads(line) for line in generated.read_text().splitlines()])
    rows = sample(
        model_dir, prompts, tmp_path / "best.jsonl", "--sampler_engine", "no",
        "--cache_files", str(generated), "--orm_model", "fake_length", "--n_best_to_keep", "1",
    )  # fmt: skip
    assert len(rows) == PROMPTS
    for row in rows:
        completions = cached[row["id"]]
        chosen, rejected = row["messages"][-1]["content"], row.get("rejected_response")
        assert len(chosen) == max(map(len, completions)) and row["orm_score"] == len(chosen)
        if min(map(len, completions)) < len(chosen):
            assert len(rejected) == min(map(len, completions))
        else:
            assert rejected is None


def test_a_process_reward_filters_by_its_weakest_step(
    generated: Path, model_dir: Path, prompts: Path, tmp_path: Path
) -> None:
    rows = sample(
        model_dir, prompts, tmp_path / "prm.jsonl", "--sampler_engine", "no", "--cache_files", str(generated),
        "--prm_model", "fake_steps", "--prm_threshold", "0.4", "--n_best_to_keep", str(N),
    )  # fmt: skip
    cached = grouped([json.loads(line) for line in generated.read_text().splitlines()])
    expected = {c for g in cached.values() for c in g if (len(c) % 7) / 7 > 0.4}
    assert {r["messages"][-1]["content"] for r in rows} == expected
    assert all(r["prm_score"] == (len(r["messages"][-1]["content"]) % 7) / 7 for r in rows)


def test_a_reward_model_folder_as_prm_scores_through_the_reward_model_reward(
    generated: Path, model_dir: Path, prompts: Path, tmp_path: Path
) -> None:
    """`--prm_model FOLDER` selects tunekite-reward-model's `reward_model` reward, whose own
    arguments then apply; the tiny chat model serves as a (random) sequence classifier."""
    rows = sample(
        model_dir, prompts, tmp_path / "rm.jsonl", "--sampler_engine", "no", "--cache_files", str(generated),
        "--prm_model", str(model_dir), "--prm_threshold=-1e9", "--n_best_to_keep", str(N),
        "--reward_model_batch_size", "3",
    )  # fmt: skip
    scores: dict[str, list[float]] = {}
    for row in rows:
        scores.setdefault(row["id"], []).append(row["prm_score"])
    assert len(scores) == PROMPTS and len({s for group in scores.values() for s in group}) > PROMPTS
    assert all(group == sorted(group, reverse=True) for group in scores.values())  # best first


def test_data_range_shards_are_disjoint_and_cover_the_dataset(
    generated: Path, model_dir: Path, prompts: Path, tmp_path: Path
) -> None:
    ids = []
    for i in range(3):
        rows = sample(
            model_dir, prompts, tmp_path / f"shard{i}.jsonl", "--sampler_engine", "no",
            "--cache_files", str(generated), "--data_range", str(i), "3",
        )  # fmt: skip
        ids.append(list(grouped(rows)))
    assert [len(s) for s in ids] == [2, 2, 2]
    assert sorted(i for s in ids for i in s) == sorted(
        grouped([json.loads(line) for line in generated.read_text().splitlines()])
    )


def test_bad_input_is_one_clear_error(
    generated: Path, model_dir: Path, prompts: Path, tmp_path: Path
) -> None:
    partial = tmp_path / "partial.jsonl"
    partial.write_text(generated.read_text().splitlines()[0] + "\n")
    with pytest.raises(ArgumentError, match=r"5 prompt.*lack completions in --cache_files"):
        sample(
            model_dir, prompts, tmp_path / "x.jsonl", "--sampler_engine", "no", "--cache_files", str(partial)
        )
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": 1}\n')
    with pytest.raises(Exception, match=r"broken\.jsonl, line 1: not a sample output row"):
        sample(
            model_dir, prompts, tmp_path / "x.jsonl", "--sampler_engine", "no", "--cache_files", str(broken)
        )
    with pytest.raises(ArgumentError, match="exists; pass --override_exist_file true"):
        sample(model_dir, prompts, generated, "--sampler_engine", "no", "--cache_files", str(generated))
    with pytest.raises(ArgumentError, match="mcts scores finished answers with --orm_model"):
        sample(model_dir, prompts, tmp_path / "x.jsonl", "--sampler_type", "mcts")
    with pytest.raises(ArgumentError, match=r"--orm_model: .*nope"):
        sample(model_dir, prompts, tmp_path / "x.jsonl", "--orm_model", "nope")
    assert not (tmp_path / "x.jsonl").exists()


def test_mcts_on_the_tiny_model_writes_its_tree(model_dir: Path, prompts: Path, tmp_path: Path) -> None:
    rows = sample(
        model_dir, prompts, tmp_path / "mcts.jsonl", "--sampler_type", "mcts", "--orm_model", "fake_length",
        "--num_return_sequences", "2", "--max_iterations", "2", "--num_sampling_per_gpu_batches", "2",
        "--stop_words", " ",
    )  # fmt: skip
    assert len(rows) == 2
    for row in rows:
        tree = json.loads(row["monte_carlo_tree"])
        assert tree["depth"] == 0 and 1 <= len(tree["children"]) <= 2 and tree["visit_count"] >= 1
        assert 1 <= row["iterations"] <= 2 and row["stop_reason"]


def test_a_resumed_mcts_run_with_every_batch_done_loads_no_model(
    model_dir: Path, prompts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tunekite_sample import task

    mcts = (
        "--sampler_type", "mcts", "--orm_model", "fake_length", "--num_return_sequences", "2",
        "--max_iterations", "1", "--num_sampling_per_gpu_batches", "2",
        "--num_sampling_per_gpu_batch_size", "1", "--temperature", "0", "--stop_words", " ",
    )  # fmt: skip
    target = tmp_path / "mcts.jsonl"

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt  # after both batches were recorded, before the output was written

    with monkeypatch.context() as patch:
        patch.setattr(task, "write_rows", interrupted)
        with pytest.raises(KeyboardInterrupt):
            sample(model_dir, prompts, target, *mcts)
    batches = [json.loads(line) for line in (tmp_path / ".mcts.jsonl.partial").read_text().splitlines()]
    assert len(batches) == 2

    def no_engine(run: object) -> None:
        raise AssertionError("a resumed run with nothing left to sample built an engine")

    monkeypatch.setattr(task, "build_engine", no_engine)
    rows = sample(model_dir, prompts, target, *mcts, "--resume", "true")
    assert rows == [row for batch in batches for row in batch["rows"]]
    assert all(json.loads(row["monte_carlo_tree"])["visit_count"] >= 1 for row in rows)


def test_mcts_searches_steps_rolls_out_and_keeps_the_right_answer(
    model_dir: Path, prompts: Path, tmp_path: Path
) -> None:
    rows = sample(
        model_dir, prompts, tmp_path / "scripted.jsonl", "--sampler_type", "mcts",
        "--sampler_engine", "scripted", "--orm_model", "fake_right", "--num_return_sequences", "2",
        "--max_iterations", "20",
        "--rollout_start_depth", "1", "--num_sampling_per_gpu_batches", "1",
    )  # fmt: skip
    (row,) = rows
    assert row["messages"][-1]["content"].endswith("ANSWER 1") and row["orm_score"] == 1.0
    assert row["rejected_response"].endswith("ANSWER 0")
    assert (
        row["messages"][-1]["content"].startswith("STEP0-") and "\nSTEP1-" in row["messages"][-1]["content"]
    )

    def depth(node: dict[str, Any]) -> int:
        return max([depth(c) for c in node["children"]], default=node["depth"])

    tree = json.loads(row["monte_carlo_tree"])
    assert depth(tree) == 3  # two steps, then the answer
    assert row["stop_reason"] in ("enough answers", "root terminated", "too easy", "too hard")


def test_sampling_through_a_deployed_server_equals_sampling_in_process(
    model_dir: Path, prompts: Path, tmp_path: Path
) -> None:
    """`--sampler_engine client`: greedy best-of-N rows and an MCTS search (whose partial
    answers go to /v1/completions as token ids) match the pt engine's, over a real socket."""
    from tunekite.testing import deployed

    greedy = ("--temperature", "0", "--num_return_sequences", "2", "--num_sampling_per_gpu_batches", "2")
    mcts = (
        "--sampler_type", "mcts", "--orm_model", "fake_length", "--num_return_sequences", "2",
        "--max_iterations", "2", "--num_sampling_per_gpu_batches", "1", "--stop_words", " ",
        "--temperature", "0",
    )  # fmt: skip
    local = sample(model_dir, prompts, tmp_path / "local.jsonl", *greedy)
    local_tree = sample(model_dir, prompts, tmp_path / "local-mcts.jsonl", *mcts)
    with deployed(["--model", str(model_dir), "--api_key", "k", "--verbose", "false"]) as url:
        client = ("--sampler_engine", "client", "--base_url", f"{url}/v1", "--api_key", "k")
        remote = sample(model_dir, prompts, tmp_path / "remote.jsonl", *greedy, *client)
        remote_tree = sample(model_dir, prompts, tmp_path / "remote-mcts.jsonl", *mcts, *client)
        with pytest.raises(ArgumentError, match="no OpenAI-compatible server answers"):
            sample(model_dir, prompts, tmp_path / "x.jsonl", "--sampler_engine", "client",
                   "--base_url", "http://127.0.0.1:9/v1")  # fmt: skip
    assert len(local) == 4 and [r["messages"] for r in remote] == [r["messages"] for r in local]
    assert [r["monte_carlo_tree"] for r in remote_tree] == [r["monte_carlo_tree"] for r in local_tree]
    with pytest.raises(
        ArgumentError, match="--sampler_engine client samples from a server: give its --base_url"
    ):
        sample(model_dir, prompts, tmp_path / "x.jsonl", "--sampler_engine", "client")
    with pytest.raises(ArgumentError, match="--base_url is read by --sampler_engine client"):
        sample(model_dir, prompts, tmp_path / "x.jsonl", "--base_url", "http://127.0.0.1:9/v1")
    assert not (tmp_path / "x.jsonl").exists()


def test_an_interrupted_run_resumes_from_its_finished_batches(
    model_dir: Path, prompts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tunekite_sample.best_of_n import BestOfN

    greedy = ("--temperature", "0", "--num_return_sequences", "2", "--num_sampling_per_gpu_batch_size", "2")
    whole = sample(model_dir, prompts, tmp_path / "whole.jsonl", *greedy)  # 3 batches of 2 prompts
    real, sampled = BestOfN.rows, []

    def stopping_at_the_third(self: BestOfN, batch: list) -> list:
        sampled.append(batch)
        if len(sampled) == 3:
            raise KeyboardInterrupt
        return real(self, batch)

    monkeypatch.setattr(BestOfN, "rows", stopping_at_the_third)
    target = tmp_path / "run.jsonl"
    with pytest.raises(KeyboardInterrupt):
        sample(model_dir, prompts, target, *greedy)
    partial = tmp_path / ".run.jsonl.partial"
    assert not target.exists() and len(partial.read_text().splitlines()) == 2
    with partial.open("a") as out:
        out.write('{"prompts": ["cut sh')  # the line being written when the run stopped
    with pytest.raises(ArgumentError, match=r"\.run\.jsonl\.partial holds .* --resume true continues it"):
        sample(model_dir, prompts, target, *greedy)
    with pytest.raises(ArgumentError, match="batch\\(es\\) this run would not sample"):
        sample(model_dir, prompts, target, *greedy[:-1], "3", "--resume", "true")

    sampled.clear()
    assert sample(model_dir, prompts, target, *greedy, "--resume", "true") == whole
    assert len(sampled) == 1  # only the batch the interrupted run did not finish
    assert not partial.exists()
