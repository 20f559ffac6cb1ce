"""Every registered tuner on SmolLM2-135M-Instruct with the same data and a short fixed budget.

5 steps, batch 2, max_length 256, fp32, no gradient checkpointing, bench/sft.py's generated
conversations (over-long ones cut from the left); QLoRA is the `lora` row again on a bnb
4-bit base. Each tuner trains in its own `tk run sft` process, which records its own peak
RSS (`ru_maxrss`) and the trainable parameters at the start of training; the table adds
seconds per step (train_runtime / steps, first step included), the first and last logged
loss, whether the checkpoint answers one prompt in `tk run infer`, and whether
`tk run export --merge_lora true` merges it ("no (reason)" with the refusal's last line).
A short budget says what each method costs, not how well it learns.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import runpy
import subprocess
import sys
import time
from pathlib import Path

STEPS, BATCH, MAX_LENGTH = 5, 2, 256
QLORA = ["--quant_method", "bnb", "--quant_bits", "4"]
# Row name -> (tuner, its arguments); rows not named here run the tuner with its defaults.
SPECIAL: dict[str, tuple[str, list[str]]] = {
    "qlora": ("lora", QLORA),
    "lora_ga": ("lora", ["--init_weights", "lora-ga"]),
    # ms-swift's 4 new blocks need a layer count divisible by 4; SmolLM2 has 30
    "llamapro": ("llamapro", ["--llamapro_num_new_blocks", "3"]),
}
FIRST = ["lora", "qlora", "full"]
COLUMNS = [
    "tuner", "trains", "trainable_params", "s_per_step", "peak_rss_mb",
    "first_loss", "last_loss", "infer", "merge",
]  # fmt: skip


def registered_tuners() -> list[str]:
    """The names `tk list tuners` shows, without importing torch."""
    from tunekite.plugin_host import get_host

    return sorted(get_host().registry("tuners").names())


def bench_order(tuners: list[str]) -> list[str]:
    """The rows in the order run: lora, qlora and full first (the memory comparison holds even
    when a long bench is stopped early), then the other rows (tuners, and lora_ga: LoRA
    initialised by LoRA-GA) alphabetically."""
    present = list(dict.fromkeys([*tuners, *(n for n, (tuner, _) in SPECIAL.items() if tuner in tuners)]))
    first = [n for n in FIRST if n in present]
    return first + sorted(n for n in present if n not in first)


def losses_and_runtime(logging_jsonl: str) -> tuple[float, float, float]:
    """(first loss, last loss, train_runtime) from a run's logging.jsonl text."""
    records = [json.loads(line) for line in logging_jsonl.splitlines() if line.strip()]
    losses = [r["loss"] for r in records if "loss" in r]
    runtime = next((r["train_runtime"] for r in records if "train_runtime" in r), None)
    if not losses or runtime is None:
        raise ValueError("logging.jsonl has no loss or no train_runtime record")
    return losses[0], losses[-1], runtime


def outcome(returncode: int, output: str) -> str:
    """`yes`, or "no (the last non-empty output line)" for a failed check."""
    if returncode == 0:
        return "yes"
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return f"no ({lines[-1][:160] if lines else f'exit {returncode}'})"


def answered(answers: Path) -> bool:
    """Whether `tk run infer` wrote one record with a non-empty response."""
    if not answers.exists():
        return False
    records = [json.loads(line) for line in answers.read_text().splitlines() if line.strip()]
    return len(records) == 1 and bool(str(records[0].get("response", "")).strip())


def markdown(results: dict) -> str:
    """The README table: one row per tuner, in the order measured."""
    head = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n"
    rows = ["| " + " | ".join(_cell(row.get(c, "")) for c in COLUMNS) + " |" for row in results["tuners"]]
    return head + "\n".join(rows) + "\n"


def _cell(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):  # four significant digits: a 5-step run says no more
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def child_main(record: Path, argv: list[str]) -> None:
    """`tk run sft` in this process; trainable parameters at train start and the peak RSS
    into `record`."""
    import transformers

    original = transformers.Trainer.train
    counted: dict = {}

    def train(self, *args, **kwargs):
        counted["trainable_params"] = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        return original(self, *args, **kwargs)

    transformers.Trainer.train = train
    sys.argv = ["tk", *argv]
    try:
        runpy.run_module("tunekite", run_name="__main__")
    finally:
        counted["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        record.write_text(json.dumps(counted))


def _tk(argv: list[str], log: Path) -> tuple[int, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "", "TOKENIZERS_PARALLELISM": "false"}
    with log.open("w") as out:
        code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    return code, log.read_text()


def measure(name: str, data: Path, work: Path) -> dict:
    tuner, extra = SPECIAL.get(name, (name, []))
    out = work / name
    out.mkdir(parents=True, exist_ok=True)
    record = out / "record.json"
    record.unlink(missing_ok=True)
    sft = [
        "run", "sft", "--model", "smollm2-135m-instruct", "--tuner", tuner, "--dataset", str(data),
        "--max_length", str(MAX_LENGTH), "--truncation_strategy", "left",
        "--per_device_train_batch_size", str(BATCH), "--max_steps", str(STEPS), "--save_steps", str(STEPS),
        "--gradient_checkpointing", "false", "--torch_dtype", "float32", "--logging_steps", "1",
        "--report_to", "none", "--split_dataset_ratio", "0", "--output_dir", str(out / "run"),
        "--add_version", "false", "--overwrite_output_dir", "true", "--dataloader_num_workers", "0", *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    code, log = _tk([sys.executable, __file__, "--child", str(record), "--", *sft], work / f"{name}.sft.log")
    row: dict = {"tuner": name, "wall_s_including_load": round(time.perf_counter() - start, 1)}
    if code != 0:
        return {**row, "trains": outcome(code, log)}
    row.update(trains="yes", **json.loads(record.read_text()))
    first, last, runtime = losses_and_runtime((out / "run/logging.jsonl").read_text())
    row.update(s_per_step=round(runtime / STEPS, 2), first_loss=first, last_loss=last)
    checkpoint = out / "run" / f"checkpoint-{STEPS}"
    adapter = (checkpoint / "adapter_config.json").exists()
    which = ["--adapters", str(checkpoint)] if adapter else ["--model", str(checkpoint)]
    answers = out / "answers.jsonl"
    answers.unlink(missing_ok=True)
    infer = [
        "run", "infer", *which, "--val_dataset", str(data), "--val_dataset_sample", "1",
        "--max_new_tokens", "4", "--temperature", "0", "--result_path", str(answers),
    ]  # fmt: skip
    code, log = _tk([sys.executable, "-m", "tunekite", *infer], work / f"{name}.infer.log")
    if code == 0 and not answered(answers):
        code, log = 1, f"{answers} holds no answer"
    row["infer"] = outcome(code, log)
    if not adapter:
        row["merge"] = "n/a (saved as a full model)"
        return row
    merged = out / "merged"
    export = [
        "run",
        "export",
        "--adapters",
        str(checkpoint),
        "--merge_lora",
        "true",
        "--output_dir",
        str(merged),
    ]
    code, log = _tk([sys.executable, "-m", "tunekite", *export], work / f"{name}.export.log")
    row["merge"] = outcome(code, log)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("bench/results/tuners.json"))
    parser.add_argument("--work", type=Path, default=Path("output/bench-tuners"))
    parser.add_argument("--only", nargs="*", help="rows to run (tuner names, or qlora); default: all")
    parser.add_argument("--markdown", action="store_true", help="print the README table of --output and stop")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.output.read_text())), end="")
        return
    sys.path.insert(0, str(Path(__file__).parent))  # here, not at import: tests load this file
    from sft import generate_rows

    names = bench_order(registered_tuners())
    chosen = [n for n in names if not args.only or n in args.only]
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / "generated.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in generate_rows(STEPS * BATCH)) + "\n")
    results: dict = {
        "setting": {
            "model": "smollm2-135m-instruct", "steps": STEPS, "batch": BATCH, "max_length": MAX_LENGTH,
            "dtype": "float32 (qlora: bnb nf4 base)", "gradient_checkpointing": False,
            "cpu_cores": os.cpu_count(), "load_average_1_5_15_at_start": os.getloadavg(),
            "rows_not_run": names,
        },
        "tuners": [],
    }  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    for name in chosen:  # written after each one: a long bench keeps what it measured
        results["tuners"].append(measure(name, data, args.work))
        results["setting"]["rows_not_run"].remove(name)
        results["setting"]["load_average_1_5_15_at_end"] = os.getloadavg()
        args.output.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps(results["tuners"][-1]), flush=True)


if __name__ == "__main__":
    if "--child" in sys.argv:
        child_main(Path(sys.argv[sys.argv.index("--child") + 1]), sys.argv[sys.argv.index("--") + 1 :])
    else:
        main()
