"""The core argument groups, with ms-swift 3.x names and defaults.

Each group is a plain dataclass whose fields are declared with `arg()`; a task or
recipe names the groups it takes (see `tunekite.registrations`), and the common group is always
present. Field names are unique across all groups so that every CLI option, YAML key
and `args.json` entry maps to exactly one field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tunekite.arguments.evaluation import TrainingEvalArguments
from tunekite.arguments.fields import arg

_MULTIMODAL = "not built yet: TuneKite has no multimodal (vision) models"


@dataclass(kw_only=True)
class CommonArguments:
    """Settings every `tk run` needs: plugins, inherited args, where output goes, seeding."""

    custom_register_path: list[str] = arg(
        default_factory=list,
        aliases=("external_plugins",),
        help="local .py files loaded and registered as plugins for this run only",
    )
    load_args: str | None = arg(
        None,
        help="args.json (or a folder holding one) whose values become defaults; "
        "CLI and -c YAML still override",
    )
    output_dir: str | None = arg(None, help="where checkpoints and logs go; None means output/<model name>")
    add_version: bool = arg(
        True, help="append a '<version>-<timestamp>' folder to output_dir so runs never overwrite"
    )
    overwrite_output_dir: bool = arg(
        False, help="start afresh in an output folder holding another run's checkpoints, deleting them"
    )
    seed: int = arg(42, help="global random seed for python, numpy and torch")


@dataclass(kw_only=True)
class ModelArguments:
    """Which model to load and how: dtype, attention, placement, hub."""

    model: str | None = arg(
        None, help="a local model folder, a hub id, a registered model name or a file such as x.gguf"
    )
    model_type: str | None = arg(
        None,
        selects="models",
        help="registered model loader to use (`tk list models`); None picks it from --model",
    )
    model_revision: str | None = arg(None, help="hub revision (branch, tag or commit) to load")
    task_type: Literal["causal_lm", "seq_cls"] = arg(
        "causal_lm", help="causal_lm for generation; seq_cls for classification (set num_labels)"
    )
    torch_dtype: Literal["float16", "bfloat16", "float32"] | None = arg(
        None, help="dtype of the model weights; None reads config.json (on CPU prefer bfloat16 to float16)"
    )
    attn_impl: str | None = arg(
        None, help="attention implementation: flash_attn, sdpa or eager; None uses sdpa if able"
    )
    num_labels: int | None = arg(None, help="number of labels for seq_cls models")
    rope_scaling: str | None = arg(
        None, help="RoPE scaling type, linear or dynamic; use together with max_length"
    )
    device_map: str | None = arg(
        None, help="'auto', 'cpu', a JSON string or JSON file; None decides from the devices"
    )
    max_memory: dict | None = arg(
        None,
        help='per-device memory cap as JSON, e.g. \'{"0": "20GB"}\', used with device_map auto',
    )
    model_kwargs: dict | None = arg(
        None, help="extra model-specific settings as JSON, e.g. '{\"fps_max_frames\": 12}'"
    )
    local_repo_path: str | None = arg(
        None,
        help="local clone of the GitHub repo some models need, instead of git clone",
        unsupported="not built yet: no registered model needs code from a GitHub repo",
    )
    use_hf: bool = arg(
        True,
        help="download models and datasets from the HuggingFace hub (the only hub TuneKite reads)",
        unsupported="not built yet: TuneKite reads only the HuggingFace hub, not ModelScope",
    )
    hub_token: str | None = arg(
        None, secret=True, help="access token for the hub (ModelScope or HuggingFace); never saved"
    )


@dataclass(kw_only=True)
class DataArguments:
    """Which datasets to read and how to load, split and preprocess them."""

    dataset: list[str] = arg(
        default_factory=list,
        help="training data as name_or_path[:subset1/subset2|all][#N]; several allowed",
    )
    val_dataset: list[str] = arg(
        default_factory=list,
        help="validation data, same format as dataset; several allowed",
    )
    split_dataset_ratio: float = arg(
        0.01, help="share of dataset held out for validation when no val_dataset; 0 disables"
    )
    data_seed: int = arg(42, help="random seed for dataset sampling, shuffling and splitting")
    dataset_num_proc: int = arg(1, help="worker processes for dataset preprocessing")
    streaming: bool = arg(
        False, help="read and preprocess data as a stream (large datasets; needs max_steps)"
    )
    lazy_tokenize: bool | None = arg(
        None,
        help="tokenize samples when used, not upfront; None means False for LLMs, True for MLLMs",
    )
    enable_cache: bool = arg(
        False, help="reuse cached preprocessing results (may go stale if the data changes)"
    )
    download_mode: Literal["reuse_dataset_if_exists", "force_redownload"] = arg(
        "reuse_dataset_if_exists", help="whether to reuse or re-download hub datasets"
    )
    columns: dict | None = arg(None, help='rename dataset columns as JSON, e.g. \'{"text1": "query"}\'')
    strict: bool = arg(False, help="fail on a malformed row instead of dropping it")
    model_name: list[str] = arg(
        default_factory=list,
        read_by="datasets",
        help="self-cognition: the model's Chinese and English name, replacing {{NAME}}",
    )
    model_author: list[str] = arg(
        default_factory=list,
        read_by="datasets",
        help="self-cognition: the author's Chinese and English name, replacing {{AUTHOR}}",
    )
    custom_dataset_info: list[str] = arg(default_factory=list, help="JSON files registering extra datasets")
    packing: bool = arg(False, help="pack several samples into each max_length sequence")


@dataclass(kw_only=True)
class TemplateArguments:
    """How conversations become token ids: chat template, lengths, padding, loss weights."""

    template: str | None = arg(
        None, selects="templates", help="chat template name; None uses the model's own"
    )
    system: str | None = arg(
        None, help="system prompt, as text or a .txt path; None keeps the template's default"
    )
    max_length: int | None = arg(None, help="max tokens per sample; None uses the model's max length")
    truncation_strategy: Literal["delete", "left", "right"] = arg(
        "delete", help="what to do with over-long samples: drop them, or cut from left or right"
    )
    max_pixels: int | None = arg(
        None,
        help="multimodal: rescale images above this many pixels (H*W); None means no cap",
        unsupported=_MULTIMODAL,
    )
    tools_prompt: str = arg(
        "react_en", help="format that turns the tool list into the system prompt, e.g. react_en"
    )
    padding_side: Literal["left", "right"] = arg(
        "right", help="padding side for training batches (generation always pads left)"
    )
    loss_scale: str = arg(
        "default",
        selects="loss_scales",
        help="per-token loss weighting, e.g. default, last_round, all or an agent scheme",
    )
    sequence_parallel_size: int = arg(
        1,
        help="number of devices to split each sequence across",
        unsupported="not built yet: sequence parallelism needs the distributed-training work",
    )
    use_chat_template: bool = arg(
        True, help="use the chat template; false uses the plain generation template"
    )
    template_backend: Literal["swift", "jinja"] = arg(
        "swift",
        help="swift: the registered template; jinja: the tokenizer's chat template (labels by prefixes)",
    )


@dataclass(kw_only=True)
class GenerationArguments:
    """Decoding settings for inference and generate-based evaluation."""

    max_new_tokens: int | None = arg(
        None, help="max tokens to generate; None means no limit (64 under predict_with_generate)"
    )
    temperature: float | None = arg(
        None, help="sampling temperature; 0 means greedy; None reads generation_config.json"
    )
    top_k: int | None = arg(None, help="top-k sampling; None reads generation_config.json")
    top_p: float | None = arg(None, help="nucleus sampling; None reads generation_config.json")
    repetition_penalty: float | None = arg(None, help="repetition penalty; None reads generation_config.json")
    num_beams: int = arg(1, help="beam search width; 1 disables beam search")
    stream: bool = arg(False, help="stream output tokens as they are generated")
    stop_words: list[str] = arg(
        default_factory=list, help="extra stop strings besides eos (kept in the output)"
    )
    logprobs: bool = arg(False, help="return log probabilities of generated tokens")
    top_logprobs: int | None = arg(None, help="how many top alternatives to return per token")


@dataclass(kw_only=True)
class QuantizationArguments:
    """Quantize the model while loading it, e.g. for QLoRA. The quantizer plugin (bnb from
    tunekite-bnb, ...) declares its own settings, such as bnb's `bnb_4bit_*`."""

    quant_method: str | None = arg(
        None,
        selects="quantizers",
        help="quantizer applied while loading the model, e.g. bnb (`tk list quantizers`); None: none",
    )
    quant_bits: Literal[1, 2, 3, 4, 8] | None = arg(
        None, read_by="quantizers", help="bits per quantized weight, read by the selected quantizer"
    )


@dataclass(kw_only=True)
class AdapterArguments:
    """Trained adapters to load: all that serving tasks (infer, deploy, export, app) take
    from the tuner group, so they never resolve a tuner."""

    adapters: list[str] = arg(default_factory=list, help="ids or paths of trained adapters to load")


@dataclass(kw_only=True)
class TunerArguments(AdapterArguments):
    """Which tuner adapts the model and which modules it touches, for any tuner."""

    tuner: str = arg(
        "lora",
        aliases=("train_type", "sft_type"),
        selects="tuners",
        help="tuner plugin that adapts the model; full trains every parameter",
    )
    target_modules: list[str] = arg(
        default_factory=lambda: ["all-linear"],
        read_by="tuners",
        help="modules the tuner attaches to; all-linear means every linear but lm_head",
    )
    target_regex: str | None = arg(
        None, read_by="tuners", help="regex of module names to attach to; overrides target_modules"
    )
    modules_to_save: list[str] = arg(
        default_factory=list,
        read_by="tuners",
        help="original modules also trained and saved next to the tuner",
    )
    freeze_llm: bool = arg(
        False,
        help="multimodal: freeze (or leave untuned) the LLM part",
        unsupported=_MULTIMODAL,
    )
    freeze_vit: bool = arg(
        True,
        help="multimodal: freeze (or leave untuned) the vision tower",
        unsupported=_MULTIMODAL,
    )
    freeze_aligner: bool = arg(
        True,
        help="multimodal: freeze (or leave untuned) the aligner/projector",
        unsupported=_MULTIMODAL,
    )


@dataclass(kw_only=True)
class TrainingArguments:
    """Trainer settings: HF Seq2SeqTrainingArguments with ms-swift's defaults and extras."""

    # Optimization
    per_device_train_batch_size: int = arg(1, help="training batch size per device")
    per_device_eval_batch_size: int = arg(1, help="evaluation batch size per device")
    gradient_accumulation_steps: int = arg(1, help="micro-batches accumulated per optimizer step")
    learning_rate: float | None = arg(
        None, help="peak learning rate; None takes the tuner's (1e-4 for tuners, 1e-5 for full)"
    )
    weight_decay: float = arg(0.1, help="weight decay coefficient")
    adam_beta1: float = arg(0.9, help="Adam beta1")
    adam_beta2: float = arg(0.999, help="Adam beta2")
    adam_epsilon: float = arg(1e-8, help="Adam epsilon")
    max_grad_norm: float = arg(1.0, help="gradient clipping norm")
    optim: str = arg("adamw_torch", help="HF optimizer name, e.g. adamw_torch")
    num_train_epochs: float = arg(3.0, help="number of training epochs")
    max_steps: int = arg(-1, help="total optimizer steps, overriding epochs; required for streaming")
    lr_scheduler_type: str = arg("cosine", help="learning rate schedule, e.g. cosine or linear")
    lr_scheduler_kwargs: dict | None = arg(None, help="extra scheduler arguments as JSON")
    warmup_ratio: float = arg(0.0, help="share of total steps used for linear warmup")
    warmup_steps: int = arg(0, help="warmup steps; overrides warmup_ratio when > 0")
    neftune_noise_alpha: float | None = arg(
        None, help="NEFTune embedding noise, typically 5, 10 or 15; None disables"
    )
    loss_type: str | None = arg(
        None,
        read_by="trainers",
        help="loss variant of the trainer's algorithm (rlhf: sigmoid, ipo, ...); None takes its default",
    )
    # Memory and speed
    gradient_checkpointing: bool = arg(True, help="recompute activations to save memory")
    gradient_checkpointing_kwargs: dict | None = arg(
        None, help="torch.utils.checkpoint options as JSON, e.g. '{\"use_reentrant\": false}'"
    )
    deepspeed: str | None = arg(
        None,
        enables="parallelisms:deepspeed",
        help="DeepSpeed ZeRO preset (zero0..zero3, zero2_offload, zero3_offload) or a JSON config file",
    )
    fsdp: str | None = arg(
        None,
        enables="parallelisms:fsdp",
        help="transformers' FSDP options, e.g. 'full_shard auto_wrap' (through accelerate)",
    )
    fsdp_config: str | None = arg(
        None, enables="parallelisms:fsdp", help="FSDP settings as a JSON file or JSON text, read with --fsdp"
    )
    bf16: bool | None = arg(None, help="bfloat16 mixed precision; None follows torch_dtype")
    fp16: bool | None = arg(None, help="float16 mixed precision; None follows torch_dtype")
    torch_compile: bool = arg(False, help="compile the model with torch.compile")
    use_cpu: bool = arg(False, help="run on CPU even where a GPU exists")
    # Distributed
    ddp_backend: Literal["nccl", "gloo", "mpi", "ccl", "hccl", "cncl", "mccl"] | None = arg(
        None, help="distributed backend; None picks one for the device"
    )
    ddp_find_unused_parameters: bool | None = arg(
        None, help="DDP find_unused_parameters; None lets the trainer decide"
    )
    ddp_timeout: int = arg(1800, help="distributed timeout in seconds")
    average_tokens_across_devices: bool = arg(
        False, help="all-reduce token counts across devices for an exact loss"
    )
    # Data loading
    dataloader_num_workers: int = arg(0, help="dataloader worker processes")
    dataloader_pin_memory: bool = arg(True, help="pin dataloader memory for faster host-to-GPU")
    remove_unused_columns: bool = arg(
        False,
        help="let the trainer drop batch columns the model's forward does not take",
        unsupported="TuneKite's datasets hold only the columns their trainer reads; there is nothing to drop",
    )
    group_by_length: bool | None = arg(
        None,
        help="batch samples of similar length together; None: on for padded batches, off for padding-free",
    )
    padding_free: bool | None = arg(
        None,
        help="concatenate each batch into one row without padding (packing implies it); None: on for "
        "a CPU when the model keeps packed samples apart, off on a GPU",
    )
    padding_free_chunk_tokens: int | None = arg(
        None,
        help="train each padding-free row in chunks of whole samples of at most N tokens: the same "
        "gradients and optimizer step with a lower memory peak, and somewhat slower",
    )
    # Logging
    logging_steps: int = arg(5, help="log every N steps")
    logging_first_step: bool = arg(True, help="also log the first step")
    report_to: list[str] = arg(
        default_factory=lambda: ["tensorboard"],
        help="loggers to report to, e.g. tensorboard wandb swanlab, all or none",
    )
    # Saving
    save_strategy: Literal["no", "steps", "epoch"] = arg("steps", help="when to save checkpoints")
    save_steps: int = arg(500, help="save a checkpoint every N steps")
    save_total_limit: int | None = arg(
        None, help="keep at most N checkpoints, deleting older ones; None keeps all"
    )
    save_only_model: bool = arg(False, help="save only model weights, without optimizer or RNG state")
    save_on_each_node: bool = arg(False, help="multi-node: save on every node, not just main")
    create_checkpoint_symlink: bool = arg(
        False, help="also link the best and last checkpoints as output_dir/best and /last"
    )
    # Evaluation
    eval_strategy: Literal["no", "steps", "epoch"] | None = arg(
        None, help="when to evaluate; None follows save_strategy"
    )
    eval_steps: int | None = arg(
        None, help="evaluate every N steps; None follows save_steps when there is eval data"
    )
    predict_with_generate: bool = arg(
        False,
        read_by="trainers",
        help="at each evaluation also generate replies to the validation prompts (64 new tokens, greedy) "
        "and log their ROUGE-L/BLEU-4, or accuracy with --metric acc",
    )
    metric: Literal["rouge", "acc"] = arg(
        "rouge",
        read_by="trainers",
        help="what --predict_with_generate logs: rouge (eval_rouge-l, eval_bleu-4) or acc (eval_acc)",
    )
    metric_for_best_model: str | None = arg(
        None,
        help="metric that picks the best checkpoint; None means loss, or rouge-l if generating",
    )
    greater_is_better: bool | None = arg(
        None, help="whether a larger metric is better; None means False if the metric has 'loss'"
    )
    load_best_model_at_end: bool = arg(False, help="reload the best checkpoint after training")
    acc_strategy: Literal["token", "seq"] = arg(
        "token", help="compute accuracy per token or per whole sequence"
    )
    # Resuming
    resume_from_checkpoint: str | None = arg(
        None, help="checkpoint to resume from: weights, optimizer, RNG state and step"
    )
    resume_only_model: bool = arg(False, help="with resume_from_checkpoint, load only the model weights")
    check_model: bool = arg(
        False,
        help="check hub model files for corruption or changes (ms-swift's ModelScope check)",
        unsupported="not built yet: model files are not checked against the hub",
    )
    # Hub
    push_to_hub: bool = arg(
        False,
        help="push checkpoints to the hub",
        unsupported="not built yet: upload the output folder with `hf upload`",
    )
    hub_model_id: str | None = arg(
        None, help="hub repo id to push to", unsupported="not built yet: it goes with --push_to_hub"
    )
    hub_private_repo: bool = arg(
        False, help="create the hub repo as private", unsupported="not built yet: it goes with --push_to_hub"
    )


CORE_GROUPS: dict[str, type] = {
    "common": CommonArguments,
    "model": ModelArguments,
    "data": DataArguments,
    "template": TemplateArguments,
    "generation": GenerationArguments,
    "quantization": QuantizationArguments,
    "tuner": TunerArguments,
    "adapters": AdapterArguments,
    "training": TrainingArguments,
    "evaluation": TrainingEvalArguments,
}

GROUP_TITLES: dict[str, str] = {
    "common": "Common",
    "model": "Model",
    "data": "Data",
    "template": "Template",
    "generation": "Generation",
    "quantization": "Quantization",
    "tuner": "Tuner",
    "adapters": "Adapters",
    "training": "Training",
    "evaluation": "Evaluation",
}
