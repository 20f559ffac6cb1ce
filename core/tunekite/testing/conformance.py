"""Conformance suites: a plugin's test subclasses one and sets `name`.

Each suite checks the contract of its kind against the component as installed (the
real plugin host), so a plugin that passes works with every TuneKite command that
uses that kind. The engine and dataset suites check the registration contract today;
their kind-specific checks join them as those contracts are built.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, ClassVar

import pytest

from tunekite.arguments.fields import fields_of
from tunekite.plugin_host import get_host
from tunekite.registrations import ComponentSpec


class ComponentConformance:
    """Checks every registered component must pass, whatever its kind."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    arg_overrides: ClassVar[dict[str, Any]] = {}

    def spec(self) -> ComponentSpec:
        return get_host().registry(self.kind).get(self.name)

    def make_args(self) -> Any:
        spec = self.spec()
        if spec.args is None:
            return None
        return spec.args(**self.arg_overrides)

    def test_registered_with_summary(self) -> None:
        spec = self.spec()
        assert spec.name == self.name
        assert spec.summary.strip() and "\n" not in spec.summary.strip()

    def test_factory_resolves(self) -> None:
        assert callable(self.spec().load())

    def test_arguments_round_trip_through_json(self) -> None:
        """What args.json stores must parse back to the same values."""
        args = self.make_args()
        if args is None:
            pytest.skip(f"{self.name} declares no arguments")
        stored = json.loads(json.dumps(dataclasses.asdict(args)))
        for f in fields_of(type(args)):
            assert f.convert(stored[f.name], "args.json") == getattr(args, f.name), f.name


class TunerConformance(ComponentConformance):
    """A tuner turns a model into one whose trainable parameters learn."""

    kind = "tuners"
    freezes_base: ClassVar[bool] = True

    def prepared(self) -> Any:
        """The tuner applied to a tiny model; one that `uses_training_batches` gets batches of
        random token rows (`training_batches`)."""
        from tunekite.arguments.groups import TunerArguments
        from tunekite.testing.models import tiny_causal_lm
        from tunekite.testing.steps import training_batches

        spec = self.spec()
        given = {"batches": training_batches()} if spec.uses_training_batches else {}
        return spec.load()(tiny_causal_lm(), self.make_args(), TunerArguments(), **given)

    def test_trainable_parameters(self) -> None:
        model = self.prepared()
        params = list(model.named_parameters())
        trainable = [n for n, p in params if p.requires_grad]
        assert trainable, "the tuner left nothing trainable"
        if self.freezes_base:
            assert len(trainable) < len(params), "the tuner left the base model trainable"

    def test_training_step_changes_output(self) -> None:
        import torch

        model = self.prepared()
        model.train()
        ids = torch.randint(0, model.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            before = model(input_ids=ids).logits.clone()
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
        for _ in range(2):  # zero-initialised adapters need a step before all grads flow
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            for name, p in model.named_parameters():
                if not p.requires_grad:
                    assert p.grad is None, f"frozen parameter {name} received a gradient"
            optimizer.step()
            optimizer.zero_grad()
        model.eval()
        with torch.no_grad():
            after = model(input_ids=ids).logits
        assert not torch.allclose(before, after), "a training step did not change the output"


class RewardConformance(ComponentConformance):
    """A reward maps completions (plus dataset columns) to one finite float each; a
    process reward (`RewardSpec(process=True)`) to a non-empty list of finite floats each,
    one per step."""

    kind = "rewards"
    completions: ClassVar[list[str]] = ["The answer is 4.", "", "4 4 4 4 4 4 4 4", "I don't know"]
    columns: ClassVar[dict[str, list[Any]]] = {}

    def reward_function(self) -> Any:
        return self.spec().load()(self.make_args())

    def test_one_finite_float_per_completion(self) -> None:
        rewards = self.reward_function()(self.completions, **self.columns)
        assert len(rewards) == len(self.completions)
        if self.spec().process:
            assert all(isinstance(r, list) and r for r in rewards), rewards
            assert all(isinstance(s, float) and math.isfinite(s) for r in rewards for s in r), rewards
            return
        assert all(isinstance(r, float) and math.isfinite(r) for r in rewards), rewards

    def test_deterministic(self) -> None:
        fn = self.reward_function()
        assert fn(self.completions, **self.columns) == fn(self.completions, **self.columns)


class TemplateConformance(ComponentConformance):
    """A template encodes like its family's own chat template and trains only the replies.

    Set `chat_template` (the family's official Jinja template) and `special_tokens`
    (plus `bos_token`/`eos_token`), or override `tokenizer()` to test against a real
    tokenizer. Templates that declare `jinja_parity=False` skip the id-parity checks
    but still pass the label checks.
    """

    kind = "templates"
    chat_template: ClassVar[str | None] = None
    special_tokens: ClassVar[tuple[str, ...]] = ()
    bos_token: ClassVar[str | None] = None
    eos_token: ClassVar[str] = "<|endoftext|>"
    jinja_refusal: ClassVar[str | None] = None
    """A regex of the reason `--template_backend jinja` refuses this family's multi-turn
    conversations with (a template that rewrites history); None: it must train them alike."""

    def tokenizer(self) -> Any:
        from tunekite.testing.tokenizers import tiny_tokenizer

        return tiny_tokenizer(
            self.chat_template, self.special_tokens, bos_token=self.bos_token, eos_token=self.eos_token
        )

    def template(self, tokenizer: Any = None) -> Any:
        return self.spec().build(tokenizer if tokenizer is not None else self.tokenizer())

    def conversations(self) -> dict[str, list[dict[str, str]]]:
        from tunekite.templates.samples import CONVERSATIONS

        return CONVERSATIONS

    def _parity(self, template: Any, tokenizer: Any) -> None:
        if not template.format.jinja_parity:
            pytest.skip(f"template {self.name!r} does not claim parity with a Jinja chat template")
        if not tokenizer.chat_template:
            pytest.skip("the test tokenizer has no chat template to compare with")

    def test_ids_and_generation_prompts_equal_the_tokenizers_chat_template(self) -> None:
        from tunekite.templates.check import compare

        tokenizer = self.tokenizer()
        template = self.template(tokenizer)
        self._parity(template, tokenizer)
        differences = compare(template, tokenizer, self.conversations())
        assert not differences, "\n".join(map(str, differences))

    def test_a_batch_encodes_each_row_as_the_tokenizer_offsets_say(self) -> None:
        """The batched, word-by-word path gives the ids, labels and weights of tokenizing
        each whole row alone, whatever the spacing, and truncates alike."""
        from tunekite.testing.encoding import reference_encoding, spacing_rows

        template = self.template()
        rows = spacing_rows(self.conversations())
        for options in ({}, {"max_length": 12, "truncation_strategy": "left"}, {"max_length": 12}):
            variant = template.with_options(**options)
            expected = [reference_encoding(variant, row) for row in rows]
            assert variant.encode_batch(rows) == expected, options
            assert variant.encode_batch(rows) == expected, f"{options}, words cached"

    def test_labels_cover_exactly_the_replies_and_their_end_of_turn(self) -> None:
        tokenizer = self.tokenizer()
        template = self.template(tokenizer)
        fmt = template.format
        for title, conversation in self.conversations().items():
            encoded = template.encode({"messages": conversation})
            pairs = zip(encoded["input_ids"], encoded["labels"], strict=True)
            trained = [token for token, label in pairs if label != -100]
            replies = [m for m in conversation if m["role"] == "assistant"]
            expected = "".join(
                _reply_text(fmt, m["content"], last=i == len(replies) - 1) + fmt.assistant_end
                for i, m in enumerate(replies)
            )
            decoded = tokenizer.decode(trained, skip_special_tokens=False)
            assert "".join(decoded.split()) == "".join(expected.split()), f"{title}: trained {decoded!r}"

    def test_end_of_turn_is_trained_after_every_reply(self) -> None:
        tokenizer = self.tokenizer()
        template = self.template(tokenizer)
        end_ids = tokenizer(template.format.assistant_end, add_special_tokens=False)["input_ids"]
        assert end_ids, f"template {self.name!r} has no end-of-turn text: the model would never stop"
        for title, conversation in self.conversations().items():
            encoded = template.encode({"messages": conversation})
            labels = encoded["labels"]
            replies = sum(m["role"] == "assistant" for m in conversation)
            found = sum(labels[i : i + len(end_ids)] == end_ids for i in range(len(labels)))
            assert found == replies, f"{title}: end-of-turn trained {found} times for {replies} replies"

    def test_jinja_backend_trains_the_same_ids_and_labels(self) -> None:
        """Training through the tokenizer's own chat template (prefix renders) gives this
        template's ids and labels, or refuses a history-rewriting family with its reason."""
        from tunekite.templates.encoder import TemplateError

        tokenizer = self.tokenizer()
        template = self.template(tokenizer)
        self._parity(template, tokenizer)
        jinja = template.with_options(backend="jinja")
        for title, conversation in self.conversations().items():
            ours = template.encode({"messages": conversation})
            replies = sum(m["role"] == "assistant" for m in conversation)
            if self.jinja_refusal is not None and replies > 1:
                with pytest.raises(TemplateError, match=self.jinja_refusal):
                    jinja.encode({"messages": conversation})
                continue
            theirs = jinja.encode({"messages": conversation})
            assert theirs["input_ids"] == ours["input_ids"], f"{title}: ids differ"
            assert theirs["labels"] == ours["labels"], f"{title}: labels differ"

    def test_building_mutates_neither_tokenizer_nor_registry(self) -> None:
        tokenizer = self.tokenizer()
        before = _tokenizer_state(tokenizer)
        spec = self.spec()
        template = self.template(tokenizer)
        template.encode({"messages": next(iter(self.conversations().values()))})
        assert _tokenizer_state(tokenizer) == before
        assert self.spec() is spec
        with pytest.raises(dataclasses.FrozenInstanceError):
            template.max_length = 1


def _reply_text(fmt: Any, content: str, *, last: bool) -> str:
    return fmt.assistant.replace("{content}", fmt.assistant_text(content, last_round=last))


def _tokenizer_state(tokenizer: Any) -> tuple[Any, ...]:
    return (
        len(tokenizer),
        json.dumps(tokenizer.special_tokens_map, sort_keys=True, default=str),
        tokenizer.chat_template,
        tokenizer.padding_side,
        tokenizer.truncation_side,
    )


class EngineConformance(ComponentConformance):
    """An engine answers `ChatRequest`s as `tunekite.engines.protocol` says, alone, batched,
    streamed and through the async front the server uses.

    By default the engine is built by its factory on a tiny random Llama with a ChatML
    tokenizer and template; override `parts()` for another (model, tokenizer, template),
    or `build_engine()` when the engine needs more than the factory's arguments. Built
    engines are cached per class and batch size, so a slow-starting engine starts twice.
    """

    kind = "engines"
    max_batch_size: ClassVar[int] = 4
    prompts: ClassVar[tuple[str, ...]] = (
        "hi",
        "what is the capital of France?",
        "12 * 7 = ?",
        "a much longer question about many things",
    )
    _built: ClassVar[dict[tuple[type, Any], Any]] = {}

    def parts(self) -> tuple[Any, Any, Any]:
        """(model, tokenizer, template): `save_tiny_chat_model` with a ChatML format."""
        import tempfile
        from pathlib import Path

        from transformers import AutoModelForCausalLM, AutoTokenizer

        from tunekite.templates.encoder import Template
        from tunekite.templates.format import ChatFormat
        from tunekite.testing.models import save_tiny_chat_model

        folder = save_tiny_chat_model(Path(tempfile.mkdtemp(prefix="tk-engine-")) / "tiny-chat")
        tokenizer = AutoTokenizer.from_pretrained(folder)
        chatml = ChatFormat(
            name="conformance-chatml",
            system="<|im_start|>system\n{content}<|im_end|>\n",
            user="<|im_start|>user\n{content}<|im_end|>\n",
            assistant_header="<|im_start|>assistant\n",
            assistant_end="<|im_end|>",
            turn_sep="\n",
        )
        return AutoModelForCausalLM.from_pretrained(folder), tokenizer, Template.create(chatml, tokenizer)

    def build_engine(self, parts: tuple[Any, Any, Any], max_batch_size: int) -> Any:
        return self.spec().load()(*parts, self.make_args(), max_batch_size=max_batch_size)

    def _cached(self, key: Any, make: Any) -> Any:
        if (type(self), key) not in self._built:
            self._built[(type(self), key)] = make()
        return self._built[(type(self), key)]

    def engine(self, max_batch_size: int = 1) -> Any:
        parts = self._cached("parts", self.parts)
        return self._cached(max_batch_size, lambda: self.build_engine(parts, max_batch_size))

    def template(self) -> Any:
        return self._cached("parts", self.parts)[2]

    @staticmethod
    def greedy(text: str, **fields: Any) -> Any:
        from tunekite.engines.protocol import ChatRequest

        settings = {"temperature": 0, "max_tokens": 12, **fields}
        return ChatRequest(messages=[{"role": "user", "content": text}], **settings)

    def test_one_response_per_request_in_order(self) -> None:
        requests = [self.greedy(p, max_tokens=2 + i) for i, p in enumerate(self.prompts)]
        responses = self.engine(self.max_batch_size).infer(requests)
        assert len(responses) == len(requests)
        for request, response in zip(requests, responses, strict=True):
            assert response.prompt_tokens == len(self.template().prompt_ids(request.messages))
            assert response.completion_tokens <= request.max_tokens

    def test_greedy_is_deterministic(self) -> None:
        engine = self.engine()
        first = [r.text for r in engine.infer([self.greedy(p) for p in self.prompts])]
        assert first == [r.text for r in engine.infer([self.greedy(p) for p in self.prompts])]

    def test_batched_greedy_equals_one_by_one(self) -> None:
        batched = self.engine(self.max_batch_size).infer([self.greedy(p) for p in self.prompts])
        alone = [self.engine().infer([self.greedy(p)])[0] for p in self.prompts]
        assert [r.text for r in batched] == [r.text for r in alone]
        assert [r.completion_tokens for r in batched] == [r.completion_tokens for r in alone]

    def test_stop_word_ends_the_reply_and_is_kept(self) -> None:
        full = self.engine().infer([self.greedy(self.prompts[1])])[0].text
        assert len(full) > 3, f"the test model should say something, said {full!r}"
        word = full[2:4]
        (cut,) = self.engine().infer([self.greedy(self.prompts[1], stop=[word])])
        assert cut.finish_reason == "stop"
        assert cut.text == full[: full.index(word) + len(word)]

    def test_usage_counts(self) -> None:
        (response,) = self.engine().infer([self.greedy(self.prompts[0], max_tokens=3)])
        assert response.prompt_tokens == len(self.template().prompt_ids([{"role": "user", "content": "hi"}]))
        assert response.finish_reason in ("stop", "length")
        if response.finish_reason == "length":
            assert response.completion_tokens == 3
        else:
            assert 1 <= response.completion_tokens <= 3

    def test_token_ids_are_the_completion(self) -> None:
        """`ChatResponse.token_ids` is optional; an engine that fills it gives every token it
        counted, the end-of-turn or EOS it stopped at included."""
        requests = [self.greedy(p, max_tokens=6) for p in self.prompts]
        for response in self.engine(self.max_batch_size).infer(requests):
            if response.token_ids is not None:
                assert len(response.token_ids) == response.completion_tokens
                assert all(isinstance(token, int) for token in response.token_ids)

    def test_stream_deltas_join_to_the_full_reply(self) -> None:
        request = self.greedy(self.prompts[1], max_tokens=16)
        full = self.engine().infer([request])[0].text
        assert "".join(self.engine().stream(request)) == full

    def test_async_front_batches_and_streams(self) -> None:
        """What `tk run deploy` does: concurrent requests through `AsyncEngine`."""
        import asyncio

        from tunekite.engines.batching import AsyncEngine

        engine = self.engine(self.max_batch_size)
        requests = [self.greedy(p) for p in self.prompts]
        expected = [r.text for r in engine.infer(requests)]

        async def main() -> tuple[list[str], list[str]]:
            front = AsyncEngine(engine)
            replies = await asyncio.gather(*(front.infer_async(r) for r in requests))
            streams = [front.stream_async(r) for r in requests]
            texts = await asyncio.gather(*(_joined(s) for s in streams))
            front.close()
            return [r.text for r in replies], texts

        replies, streamed = asyncio.run(main())
        assert replies == expected
        assert streamed == expected


async def _joined(stream: Any) -> str:
    return "".join([delta async for delta in stream])


class DatasetConformance(ComponentConformance):
    """A named dataset loads, subset by subset, into valid canonical conversations.

    `data_overrides` sets core `DataArguments` fields the dataset needs (e.g.
    `model_name` for self-cognition). Prompt-only sets (GRPO prompts, whose rows end
    with the user's turn) set `require_response = False`.
    """

    kind = "datasets"
    data_overrides: ClassVar[dict[str, Any]] = {}
    require_response: ClassVar[bool] = True

    def load_rows(self, dataset: str | None = None, **data_overrides: Any) -> list[dict]:
        """The rows `--dataset DATASET` (default: the name) loads, strictly, without a split;
        `data_overrides` replace `data_overrides` of the class for this call."""
        from tunekite.arguments.groups import DataArguments
        from tunekite.data import load_datasets

        overrides = {"split_dataset_ratio": 0.0, "strict": True, **self.data_overrides, **data_overrides}
        args = DataArguments(dataset=[dataset or self.name], **overrides)
        train, val, dropped = load_datasets(args, require_response=self.require_response, host=get_host())
        assert val is None and dropped.total == 0
        return list(train)

    def test_every_row_is_a_canonical_conversation(self) -> None:
        from tunekite.data import validate_conversation

        rows = self.load_rows()
        assert rows, f"{self.name} loaded no rows"
        for row in rows:
            validate_conversation(row, require_response=self.require_response)

    def test_each_subset_loads_on_its_own(self) -> None:
        subsets = self.spec().subsets
        if not subsets:
            pytest.skip(f"{self.name} declares no subsets")
        sizes = {s: len(self.load_rows(f"{self.name}:{s}")) for s in subsets}
        assert all(sizes.values()), f"empty subsets: {sizes}"
        assert sum(sizes.values()) == len(self.load_rows(f"{self.name}:all"))


class TrainerConformance(ComponentConformance):
    """A trainer trains a few steps on the tiny model through `tk run`, writes complete,
    self-describing checkpoints, resumes into the same folder from a middle checkpoint to
    the same loss curve, and refuses the arguments of other trainers.

    A subclass sets `name` and what the trainer needs: `rows` (its dataset, any format core
    reads), `extra_argv(folder)` (the tuner, rewards, ...; it may write files such as a
    reward plugin into `folder`), the logged `loss_key`, and the `checkpoint_files` every
    checkpoint must hold besides its weights and `args.json`.
    """

    kind = "trainers"
    rows: ClassVar[list[dict[str, Any]]] = [
        {"messages": [{"role": "user", "content": f"say {i}"}, {"role": "assistant", "content": f"{i} {i}"}]}
        for i in range(16)
    ]
    template: ClassVar[str] = "default"
    loss_key: ClassVar[str] = "loss"
    checkpoint_files: ClassVar[tuple[str, ...]] = ("trainer_state.json",)
    steps: ClassVar[int] = 4
    save_steps: ClassVar[int] = 2

    def extra_argv(self, folder: Any) -> list[str]:
        return ["--tuner", "full"]

    def argv(self, folder: Any, out: Any) -> list[str]:
        from tunekite.testing.models import save_tiny_chat_model

        model = folder / "tiny-chat"
        if not model.exists():
            save_tiny_chat_model(model)
        data = folder / "rows.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in self.rows), encoding="utf-8")
        return [
            "--model", str(model), "--template", self.template, "--dataset", str(data),
            "--output_dir", str(out), "--add_version", "false", "--report_to", "none",
            "--split_dataset_ratio", "0", "--gradient_checkpointing", "false", "--seed", "7",
            "--logging_steps", "1", "--save_steps", str(self.save_steps), "--max_steps", str(self.steps),
            "--per_device_train_batch_size", "2", "--max_length", "48", "--learning_rate", "1e-3",
            *self.extra_argv(folder),
        ]  # fmt: skip

    def train(self, argv: list[str]) -> dict[str, Any]:
        from tunekite.api import start

        return start(self.name, argv)

    def losses(self, out: Any) -> list[tuple[int, float]]:
        """(step, loss) of every training record in `logging.jsonl`, in order."""
        lines = (out / "logging.jsonl").read_text(encoding="utf-8").splitlines()
        return [(r["step"], r[self.loss_key]) for r in map(json.loads, lines) if self.loss_key in r]

    @pytest.fixture(scope="class")
    @classmethod
    def straight(cls, tmp_path_factory: Any) -> tuple[Any, Any, dict[str, Any]]:
        """One uninterrupted run: (work folder, output folder, what `tk run` returned)."""
        suite = cls()
        folder = tmp_path_factory.mktemp(f"trainer-{cls.name}")
        out = folder / "straight"
        return folder, out, suite.train(suite.argv(folder, out))

    def test_trains_and_writes_complete_checkpoints(self, straight: Any) -> None:
        from tunekite.training.outputs import checkpoint_description

        _, out, result = straight
        assert [step for step, _ in self.losses(out)] == list(range(1, self.steps + 1))
        assert all(math.isfinite(loss) for _, loss in self.losses(out))
        saved = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
        assert saved == list(range(self.save_steps, self.steps + 1, self.save_steps))
        assert result["last_checkpoint"] == out / f"checkpoint-{self.steps}"
        assert not (out / ".staging").exists(), "a checkpoint was left half-committed"
        for step in saved:
            checkpoint = out / f"checkpoint-{step}"
            weights = [*checkpoint.glob("model*.safetensors"), *checkpoint.glob("adapter_model.safetensors")]
            assert weights, f"{checkpoint} holds no weights"
            for name in self.checkpoint_files:
                assert (checkpoint / name).is_file(), f"{checkpoint} lacks {name}"
            described = checkpoint_description(checkpoint)
            assert described["trainer"] == self.name and described["tuner"]["distribution"]

    def test_resumes_into_the_same_folder_to_the_same_loss_curve(self, straight: Any) -> None:
        """A run killed after its middle checkpoint (the later checkpoints and log lines
        gone) and resumed from it into the same folder logs each step once, and the steps
        after the checkpoint repeat the straight run's losses: it continued, not restarted."""
        import shutil

        folder, out, _ = straight
        middle = self.save_steps
        resumed = folder / "resumed"
        shutil.copytree(out, resumed)
        for later in resumed.glob("checkpoint-*"):
            if int(later.name.split("-")[1]) > middle:
                shutil.rmtree(later)
        log = resumed / "logging.jsonl"
        kept = [
            line
            for line in log.read_text(encoding="utf-8").splitlines()
            if json.loads(line)["step"] <= middle
        ]
        log.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        argv = self.argv(folder, resumed)
        self.train([*argv, "--resume_from_checkpoint", str(resumed / f"checkpoint-{middle}")])
        curve = self.losses(resumed)
        assert [step for step, _ in curve] == list(range(1, self.steps + 1)), curve
        expected = [loss for step, loss in self.losses(out) if step > middle]
        assert [loss for step, loss in curve if step > middle] == pytest.approx(expected, rel=1e-4, abs=1e-6)

    def test_rejects_the_arguments_of_other_trainers(self, tmp_path: Any) -> None:
        from tunekite.api import resolve
        from tunekite.errors import ArgumentError

        own = {n for f in fields_of(self.spec().args) for n in f.names} if self.spec().args else set()
        others = [
            (spec.name, f.name)
            for spec in (e.spec for e in get_host().registry("trainers"))
            if spec.name != self.name and not spec.dispatch and spec.args is not None
            for f in fields_of(spec.args)
            if not own & set(f.names)
        ]
        if not others:
            pytest.skip("no other installed trainer declares an argument this one lacks")
        checked: set[str] = set()
        for trainer, option in others:
            if trainer in checked:
                continue
            checked.add(trainer)
            with pytest.raises(ArgumentError, match=rf"--{option}: belongs to the trainers? .*'{trainer}'"):
                resolve(self.name, [*self.argv(tmp_path, tmp_path / "out"), f"--{option}", "1"])
