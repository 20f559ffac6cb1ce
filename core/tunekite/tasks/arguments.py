"""The task-specific argument groups of `tk run infer` and `tk run export` (ms-swift 3.x
names and defaults). Light to import: `tk --help` and `tk list` read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tunekite.arguments.evaluation import EvalDatasetArguments
from tunekite.arguments.fields import arg


@dataclass(kw_only=True)
class MergeArguments:
    """Merging LoRA adapters into the base model (ms-swift's merge arguments)."""

    merge_lora: bool = arg(
        False, help="merge the --adapters into the base model (written to <adapter>-merged)"
    )
    safe_serialization: bool = arg(True, help="write the merged weights as safetensors")
    max_shard_size: str = arg("5GB", help="largest merged weight file before the model is split in shards")


@dataclass(kw_only=True)
class InferArguments(MergeArguments):
    """`tk run infer`: which engine, how many prompts at once, where batch results go."""

    infer_backend: str = arg("pt", selects="engines", help="inference engine: pt, or an installed plugin's")
    max_batch_size: int = arg(1, help="prompts the pt engine generates together")
    result_path: str | None = arg(
        None,
        help="jsonl for dataset results; None writes <checkpoint>/infer_result/<time>.jsonl, "
        "or result/<model>/infer_result/<time>.jsonl without a checkpoint",
    )
    val_dataset_sample: int | None = arg(None, help="answer only the first N rows of the inference dataset")
    write_batch_size: int = arg(1000, help="rows answered and appended to result_path at a time")
    metric: Literal["acc", "rouge"] | None = arg(
        None,
        help="score the replies against the dataset's reference replies: acc (exact match) or rouge "
        "(ROUGE-L, BLEU-4); printed and written to <result_path>.metric.json",
    )


@dataclass(kw_only=True)
class ExportArguments(MergeArguments):
    """`tk run export`: which exporters run, in this order (see `tk list exporters`). Export
    takes no quantization group, so `--quant_method` here picks the quantizing exporter."""

    quant_method: str | None = arg(
        None,
        selects="exporters",
        help="quantize the (merged) model with this exporter: bnb, gptq, awq (`tk list exporters`)",
    )
    to_gguf: bool = arg(False, enables="exporters:gguf", help="write a llama.cpp GGUF file")
    to_ollama: bool = arg(
        False, enables="exporters:ollama", help="write an Ollama Modelfile next to the GGUF (or folder)"
    )
    push_to_hub: bool = arg(
        False, enables="exporters:hub", help="upload the exported folder to the Hugging Face hub"
    )


@dataclass(kw_only=True)
class DeployArguments:
    """`tk run deploy`: an OpenAI-compatible server (ms-swift's deployment arguments)."""

    infer_backend: str = arg("pt", selects="engines", help="inference engine: pt, or an installed plugin's")
    max_batch_size: int = arg(1, help="concurrent requests the pt engine generates together")
    host: str = arg(
        "127.0.0.1", help="address the server listens on (0.0.0.0: every interface; then set --api_key)"
    )
    port: int = arg(8000, help="port the server listens on (0: one the system picks, printed at start)")
    api_key: str | None = arg(
        None, secret=True, help="clients must send `Authorization: Bearer API_KEY` (None: no check)"
    )
    owned_by: str = arg("tunekite", help="owner reported for every model by /v1/models")
    served_model_name: str | None = arg(None, help="name clients ask for; None: the --model folder's name")
    verbose: bool = arg(True, help="log every request (access log)")
    log_interval: float = arg(20.0, help="seconds between tokens/s statistics lines; 0 or less: none")
    max_logprobs: int = arg(20, help="the most top_logprobs a request may ask for")
    adapter_dirs: list[str] = arg(
        default_factory=list,
        help="folders /v1/adapters/load may load adapters from (none: no loading or unloading at run time)",
    )


@dataclass(kw_only=True)
class EvalArguments(EvalDatasetArguments):
    """`tk run eval` (ms-swift's evaluation arguments): which backend scores which datasets,
    through which engine or running server, and where the results go."""

    eval_backend: str = arg("native", selects="evaluators", help="evaluation backend (`tk list evaluators`)")
    eval_output_dir: str = arg(
        "eval_output", help="results go to <eval_output_dir>/<time>/: predictions, scores.json, manifest"
    )
    eval_url: str | None = arg(
        None,
        help="score a running OpenAI-compatible server (http://127.0.0.1:8000/v1); no model is loaded",
    )
    eval_num_proc: int = arg(256, help="requests sent to --eval_url at a time (ms-swift: 256 for text)")
    api_key: str | None = arg(None, secret=True, help="key sent to --eval_url as `Authorization: Bearer`")
    infer_backend: str = arg("pt", selects="engines", help="inference engine: pt, or an installed plugin's")
    max_batch_size: int = arg(1, help="prompts the engine generates together")
    verbose: bool = arg(False, help="print every question, reply and score as it is scored")
