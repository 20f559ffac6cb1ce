"""Every hook a TuneKite plugin can implement, in one place.

A plugin is a module (or object) with functions named like these hooks, usually
marked with `tunekite.hookimpl`. Registration hooks are called once per process,
when the registries are first built, and each plugin's calls are kept apart so that
what a plugin registered is attributed to its distribution. Types are imported only
for type checking: loading this module imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from tunekite.launcher import Run
    from tunekite.registrations import (
        DatasetSpec,
        EngineSpec,
        EvaluatorSpec,
        ExporterSpec,
        LossScaleSpec,
        ModelSpec,
        ParallelismSpec,
        QuantizerSpec,
        RewardSpec,
        TaskSpec,
        TemplateSpec,
        TrainerSpec,
        TunerSpec,
    )

hookspec = pluggy.HookspecMarker("tunekite")


@hookspec
def tk_register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register model loaders and named models (`--model NAME_OR_PATH`, `--model_type NAME`).

    When: once per process, when the `models` registry is first needed.
    Gets: `register`, which takes one `tunekite.api.ModelSpec` per call. A spec that
    gives `folder` (a function turning `--model` into a Hugging Face folder) keeps
    core's loader as its factory, so every model argument applies; `file_suffixes`
    claims `--model` paths by extension.
    Returns: nothing; registrations go through `register`.

    Example::

        @hookimpl
        def tk_register_models(register):
            register(ModelSpec(name="gguf", summary="GGUF files, cached as HF folders",
                               file_suffixes=(".gguf",), folder="tunekite_gguf.convert:hf_folder"))
            register(ModelSpec(name="smollm2-135m-instruct", summary="SmolLM2 135M chat",
                               template="smollm2", folder="tunekite_gguf.named:smollm2_folder"))
    """


@hookspec
def tk_register_templates(register: Callable[[TemplateSpec], None]) -> None:
    """Register chat-template families (`--template NAME`).

    When: once per process, when the `templates` registry is first needed.
    Gets: `register`, which takes one `tunekite.api.TemplateSpec` per call, holding the
    family's `tunekite.api.ChatFormat` (the literal text around each message, and the
    template's name); core's encoder does the tokenizing, labels, loss scales, tools and
    truncation.
    Returns: nothing; registrations go through `register`.

    Example::

        CHATML = ChatFormat(name="chatml", system="<|im_start|>system\\n{content}<|im_end|>\\n",
                            user="<|im_start|>user\\n{content}<|im_end|>\\n",
                            assistant_header="<|im_start|>assistant\\n",
                            assistant_end="<|im_end|>", turn_sep="\\n")

        @hookimpl
        def tk_register_templates(register):
            register(TemplateSpec(format=CHATML, summary="<|im_start|> chat format",
                                  chat_template_markers=("<|im_start|>", "<|im_end|>")))
    """


@hookspec
def tk_register_tuners(register: Callable[[TunerSpec], None]) -> None:
    """Register tuners (`--tuner NAME`, alias `--train_type`).

    When: once per process, when the `tuners` registry is first needed.
    Gets: `register`, which takes one `tunekite.api.TunerSpec` per call; the spec's
    `args` dataclass becomes the tuner's own argument group, shown and parsed only
    when the tuner is selected. A tuner initialised from the data sets
    `uses_training_batches` (its factory gets `batches=`), and one that changes the base
    weights sets `checkpoint_converter` (LoRA-GA does both).
    Returns: nothing; registrations go through `register`.

    Example::

        @dataclass(kw_only=True)
        class LoraArguments:
            lora_rank: int = arg(8, help="LoRA rank")

        @hookimpl
        def tk_register_tuners(register):
            register(TunerSpec(name="lora", summary="Low-rank adapters through peft",
                               args=LoraArguments, factory="tunekite_lora.tuner:prepare"))
    """


@hookspec
def tk_register_trainers(register: Callable[[TrainerSpec], None]) -> None:
    """Register training recipes that `tk run NAME` starts (sft, pt, dpo, grpo, ...).

    When: once per process, when the `trainers` registry is first needed.
    Gets: `register`, which takes one `tunekite.api.TrainerSpec` per call; `groups`
    lists the core argument groups the recipe takes, `args` the trainer's own argument
    dataclass (the recipe reads it as `run.component_args(run.spec)`). A recipe builds on
    core's training scaffolding (`load_policy`, `apply_tuner`, `standard_callbacks`,
    `checkpoint_describer`, `commit_checkpoint`, `train_and_finish`) and should pass
    `tunekite.testing.TrainerConformance`; it gives the tuner `apply_tuner(run, policy,
    batches=TrainingBatches.for_tokenizer(train, tokenizer))` and the describer the tuned
    `model=` where its data suit that (sft does), else tuners that need them refuse.
    Returns: nothing; registrations go through `register`.

    Example::

        @hookimpl
        def tk_register_trainers(register):
            register(TrainerSpec(name="dpo", summary="Direct Preference Optimization (TRL)",
                                 groups=("model", "data", "template", "tuner", "training"),
                                 args=DpoArguments, factory="tunekite_rlhf.preference:train"))
    """


@hookspec
def tk_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register non-training tasks that `tk run NAME` starts (infer, export, deploy, ...).

    When: once per process, when the `tasks` registry is first needed.
    Gets: `register`, which takes one `tunekite.api.TaskSpec` per call.
    Returns: nothing; registrations go through `register`. The factory receives the
    resolved `tunekite.api.Run` when the task is started.

    Example::

        @hookimpl
        def tk_register_tasks(register):
            register(TaskSpec(name="app", summary="Gradio chat page", groups=("model",),
                              args=AppArguments, factory="tunekite_app.page:serve"))
    """


@hookspec
def tk_register_engines(register: Callable[[EngineSpec], None]) -> None:
    """Register inference engines (`--infer_backend NAME`).

    When: once per process, when the `engines` registry is first needed.
    Gets: `register`, which takes one `tunekite.api.EngineSpec` per call. Its factory is
    called as `factory(model, tokenizer, template, engine_args, *, max_batch_size=1)` (the
    loaded model, a `peft.PeftModel` when an adapter is applied; its tokenizer; the run's
    `Template`; the engine's own argument group or None) and returns an engine following
    `tunekite.engines.protocol.Engine`: `infer(list[ChatRequest]) -> list[ChatResponse]`
    and `stream(ChatRequest) -> Iterator[str]` of text deltas.
    Returns: nothing; registrations go through `register`.

    Example::

        @hookimpl
        def tk_register_engines(register):
            register(EngineSpec(name="vllm", summary="vLLM paged-attention engine",
                                args=VllmArguments, factory="tunekite_vllm.engine:build"))
    """


@hookspec
def tk_register_rewards(register: Callable[[RewardSpec], None]) -> None:
    """Register reward functions (`--reward_funcs NAME ...`).

    When: once per process, when the `rewards` registry is first needed.
    Gets: `register`, which takes one `tunekite.api.RewardSpec` per call; the factory
    returns a callable `(completions: list[str], **columns) -> list[float]`; a process
    reward (`RewardSpec(process=True)`, a PRM) returns `list[list[float]]` instead, one
    score per step of each completion.
    Returns: nothing; registrations go through `register`.

    Example::

        @hookimpl
        def tk_register_rewards(register):
            register(RewardSpec(name="format", summary="<think>/<answer> shape",
                                factory="tunekite_rewards.format:build"))
    """


@hookspec
def tk_register_loss_scales(register: Callable[[LossScaleSpec], None]) -> None:
    """Register per-token loss weighting strategies (`--loss_scale NAME`).

    When: once per process, when the `loss_scales` registry is first needed.
    Gets: `register`, which takes one `tunekite.api.LossScaleSpec` per call. The factory,
    `(loss_scale_args) -> LossScale`, returns a callable that maps each rendered
    `tunekite.api.Piece` (kind, text, round, last_round) to weighted sub-strings; a
    weight of 0 leaves those tokens untrained.
    Returns: nothing; registrations go through `register`.

    Example::

        class RepliesTwice(LossScale):
            def __call__(self, piece):
                return [(piece.text, 2.0 if self.trains(piece) else 0.0)]

        @hookimpl
        def tk_register_loss_scales(register):
            register(LossScaleSpec(name="double", summary="Replies weigh 2",
                                   factory=lambda args: RepliesTwice()))
    """


@hookspec
def tk_register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register named datasets (`--dataset NAME[:subset][#N]`).

    When: once per process, when the `datasets` registry is first needed.
    Gets: `register`, which takes one `tunekite.api.DatasetSpec` per call; its factory
    is called as `factory(subsets, data_args)` with the chosen subsets (a tuple) and
    core's `DataArguments`, and returns a `datasets.Dataset`, an `IterableDataset` or a
    list of row dicts in any format `tunekite.data` recognises.
    Returns: nothing; registrations go through `register`.

    Example::

        @hookimpl
        def tk_register_datasets(register):
            register(DatasetSpec(name="self-cognition", summary="Who-are-you rows",
                                 subsets=("zh", "en"), factory="tunekite_self_cognition.data:load"))
    """


@hookspec
def tk_register_exporters(register: Callable[[ExporterSpec], None]) -> None:
    """Register model exporters: the steps of `tk run export`.

    When: once per process, when the `exporters` registry is first needed; a factory is
    called by the export task when the run selects its exporter.
    Gets: `register`, which takes one `tunekite.api.ExporterSpec` per call.
    Returns: nothing; registrations go through `register`.

    Selection and chaining: export's own arguments pick the steps, which run in this
    order, each given what the one before produced: `--merge_lora true` (core's `merge`,
    onto the `--adapters`), then `--quant_method NAME` (a spec with `quantizes=True`),
    then `--to_gguf true` (`gguf`), `--to_ollama true` (`ollama`), `--push_to_hub true`
    (`hub`). The spec's `args` group joins the run (and its `--help`) when selected.

    Factory contract: `factory(exporter_args, run, source) -> Path`, where
    `exporter_args` is the spec's own argument group (None without one), `run` the
    resolved `Run` (`run.output_dir` is the export folder, already created, holding the
    run's args.json) and `source` a `Path`: the previous step's result, or, for the
    first step, the `--model`'s Hugging Face folder. It writes only under
    `run.output_dir` (nothing half-written: stage, then rename) unless it publishes, and
    returns the folder or file the next step should read (a publisher returns `source`).
    Refuse bad input or a missing library with `ArgumentError`/`TunekiteError`, one line
    saying what to do.

    Example::

        @hookimpl
        def tk_register_exporters(register):
            register(ExporterSpec(name="gptq", summary="4-bit GPTQ through gptqmodel",
                                  args=GptqArguments, quantizes=True,
                                  factory="tunekite_gptq.export:quantize"))

        # tunekite_gptq/export.py
        def quantize(args: GptqArguments, run: Run, source: Path) -> Path:
            ...  # load `source`, quantize, save into run.output_dir
            return run.output_dir
    """


@hookspec
def tk_register_quantizers(register: Callable[[QuantizerSpec], None]) -> None:
    """Register quantizers applied while the model loads (`--quant_method NAME`).

    When: once per process, when the `quantizers` registry is first needed; the factory
    is called by core's model loader (`tunekite.api.load_model(run)`) each time a run
    that selected the quantizer loads its model, before `from_pretrained`.
    Gets: `register`, which takes one `tunekite.api.QuantizerSpec` per call. The spec's
    `args` dataclass is the quantizer's own argument group (bnb's `bnb_4bit_*`), parsed
    only when `--quant_method` selects it; core keeps `--quant_bits` (read it as
    `run.quant_bits`, None when not given). The factory is called as
    `factory(quantizer_args, run)`: `quantizer_args` is an instance of that dataclass
    (None when the spec has no `args`), `run` the resolved `tunekite.api.Run` (also
    `run.torch_dtype`, `run.device_map`, ...). It returns a `dict` of extra keyword
    arguments for `AutoModelFor*.from_pretrained`, e.g. `{"quantization_config":
    BitsAndBytesConfig(...), "device_map": "cpu"}`; keys it returns replace the loader's
    own (`device_map`, `dtype`), and keyword arguments the caller of `load_model` passes
    replace both. It raises `tunekite.api.ArgumentError` for settings it cannot honour
    (unsupported bits, a missing GPU) and imports its heavy library inside the factory.
    Returns: nothing; registrations go through `register`.

    Example::

        @dataclass(kw_only=True)
        class BnbArguments:
            bnb_4bit_quant_type: str = arg("nf4", help="bnb 4-bit data type: fp4 or nf4")

        def bnb_kwargs(args, run):
            from transformers import BitsAndBytesConfig
            if run.quant_bits not in (4, 8):
                raise ArgumentError("--quant_method bnb needs --quant_bits 4 or 8")
            return {"quantization_config": BitsAndBytesConfig(
                load_in_4bit=run.quant_bits == 4, load_in_8bit=run.quant_bits == 8,
                bnb_4bit_quant_type=args.bnb_4bit_quant_type)}

        @hookimpl
        def tk_register_quantizers(register):
            register(QuantizerSpec(name="bnb", summary="bitsandbytes 4/8-bit weights",
                                   args=BnbArguments, factory=bnb_kwargs))
    """


@hookspec
def tk_register_parallelisms(register: Callable[[ParallelismSpec], None]) -> None:
    """Register engines that shard training over several processes (`--deepspeed`, `--fsdp`).

    When: once per process, when the `parallelisms` registry is first needed; a training
    run that sets the argument naming one (`--deepspeed zero2` selects `deepspeed`,
    `--fsdp "full_shard auto_wrap"` selects `fsdp`) calls its `before_model` (if any)
    before the model loads, then its factory while building the trainer's arguments.
    Gets: `register`, which takes one `tunekite.api.ParallelismSpec` per call.
    Returns: nothing; registrations go through `register`.

    Factory contract: `factory(parallelism_args, run) -> dict`, the transformers
    `TrainingArguments` fields that switch the engine on (`{"deepspeed": config_dict}`,
    `{"fsdp": "full_shard auto_wrap", "fsdp_config": {...}}`); `parallelism_args` is the
    spec's own argument group (None without one), `run` the resolved `Run`.
    `before_model(parallelism_args, run)` does what must precede `from_pretrained` (the
    process group ZeRO-3 partitions over). Refuse settings this machine cannot honour
    (a CUDA-only option on CPU) with `ArgumentError`, one line saying why.

    Example::

        @hookimpl
        def tk_register_parallelisms(register):
            register(ParallelismSpec(name="deepspeed", summary="DeepSpeed ZeRO stages 0-3",
                                     args=DeepSpeedArguments,
                                     factory="tunekite_deepspeed.config:training_fields",
                                     before_model="tunekite_deepspeed.config:before_model"))
    """


@hookspec
def tk_register_evaluators(register: Callable[[EvaluatorSpec], None]) -> None:
    """Register evaluation backends for `tk run eval` (`--eval_backend NAME`).

    When: once per process, when the `evaluators` registry is first needed; the factory is
    called by the eval task once the engine (or the `--eval_url` client) is ready.
    Gets: `register`, which takes one `tunekite.api.EvaluatorSpec` per call.
    Returns: nothing; registrations go through `register`.

    Factory contract: `factory(evaluator_args, job) -> Iterable[DatasetResult]`. `job` is a
    `tunekite.api.EvalJob`: `job.datasets` (the `--eval_dataset` values), `job.limit`
    (`--eval_limit`), `job.answer(conversations, **overrides) -> list[str]` (replies from the
    run's engine or server; never load a model yourself), `job.load_rows(name)` (core's
    loader for files and registered datasets) and `job.report(dataset, sample)` (call it
    per scored `EvalSample`). Yield one `tunekite.api.DatasetResult` per dataset; core
    writes `predictions/<dataset>.jsonl`, `scores.json`, the manifest and the table.

    Example::

        def evaluate(args, job):
            for name in job.datasets:
                rows = job.load_rows(name)[: job.limit]
                replies = job.answer([row["messages"][:-1] for row in rows])
                samples = [EvalSample(index=i, prompt=row["messages"][:-1], prediction=reply,
                                      reference=row["messages"][-1]["content"],
                                      scores={"acc": exact_match(reply, row["messages"][-1]["content"])})
                           for i, (row, reply) in enumerate(zip(rows, replies))]
                yield DatasetResult(dataset=name, samples=tuple(samples),
                                    scores={"acc": mean(s.scores["acc"] for s in samples)})

        @hookimpl
        def tk_register_evaluators(register):
            register(EvaluatorSpec(name="exact", summary="Exact-match accuracy", factory=evaluate))
    """


@hookspec
def tk_register_commands(cli: click.Group) -> None:
    """Add top-level commands to `tk`.

    When: once, while the `tk` command group is built (before any argument is parsed),
    so keep the command's module light and import heavy libraries inside it.
    Gets: `cli`, the `tk` click group.
    Returns: nothing; call `cli.add_command(...)`.

    Example::

        @hookimpl
        def tk_register_commands(cli):
            @cli.command(name="hello")
            def hello():
                click.echo("hi")
    """


@hookspec
def tk_train_callbacks(run: Run) -> list[Any] | None:
    """Contribute training callbacks to a training run.

    When: once per training run, after its arguments are resolved and before the
    transformers `Trainer` is built.
    Gets: `run`, the resolved `tunekite.api.Run` (arguments by group, output folder).
    Returns: a list of `transformers.TrainerCallback` instances, or None. Lists from
    all plugins are concatenated.

    Example::

        @hookimpl
        def tk_train_callbacks(run):
            from transformers import TrainerCallback
            class Beep(TrainerCallback):
                def on_save(self, args, state, control, **kw):
                    print("\\a", end="")
            return [Beep()]
    """


REGISTER_HOOKS: dict[str, str] = {
    "models": "tk_register_models",
    "templates": "tk_register_templates",
    "tuners": "tk_register_tuners",
    "trainers": "tk_register_trainers",
    "tasks": "tk_register_tasks",
    "engines": "tk_register_engines",
    "rewards": "tk_register_rewards",
    "loss_scales": "tk_register_loss_scales",
    "datasets": "tk_register_datasets",
    "quantizers": "tk_register_quantizers",
    "exporters": "tk_register_exporters",
    "parallelisms": "tk_register_parallelisms",
    "evaluators": "tk_register_evaluators",
}
