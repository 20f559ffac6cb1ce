"""Export quality, not just files: each exporter's output against the unquantized model.

For the reference model and for every export method (`tk run export` in this process),
the results file records the export time, size on disk, load time, tokens/s through
`tk run infer` (8 fixed prompts, greedy, 32 new tokens; the load time is subtracted),
perplexity on a fixed held-out text (the reference tokenizer's ids for every model), and
how many of the 8 greedy answers equal the reference's. A method whose perplexity is more
than `--max_ppl_ratio` times the reference's fails the bench (exit status 1), so a
quantizer that "succeeds" but writes garbage cannot pass.

GPTQ and AWQ need gptqmodel, which lives in its own environment: `make bench-export` runs
them with `.venv-quant/bin/python` when `make quant-env` has built it. `--tiny` benches a
tiny random chat model instead of SmolLM2 (a check that the script works, in seconds).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CALIBRATION = ["--quant_n_samples", "16", "--group_size", "32"]
"""GPTQ/AWQ: 16 bundled conversations; SmolLM2's 576-wide layers take groups of 64 or 32, not 128."""
METHODS = {
    "bnb-4": ["--quant_method", "bnb", "--quant_bits", "4"],
    "bnb-8": ["--quant_method", "bnb", "--quant_bits", "8"],
    "gguf-f16": ["--to_gguf", "true", "--gguf_quantization", "f16"],
    "gguf-q8_0": ["--to_gguf", "true", "--gguf_quantization", "q8_0"],
    "gguf-q4_0": ["--to_gguf", "true", "--gguf_quantization", "q4_0"],
    "gptq-4": ["--quant_method", "gptq", "--quant_bits", "4", *CALIBRATION],
    "awq-4": ["--quant_method", "awq", "--quant_bits", "4", *CALIBRATION],
}
PROMPTS = [
    "What is the capital of France?",
    "Name three primary colours.",
    "What is 12 plus 30?",
    "Write one sentence about the sea.",
    "What is the opposite of hot?",
    "Who wrote Romeo and Juliet?",
    "How many days are in a week?",
    "Give a synonym for happy.",
]
HELD_OUT = Path(__file__).with_name("held_out.txt").read_text(encoding="utf-8").strip()
"""Five paragraphs in different registers, 639 SmolLM2 tokens, in no calibration set: the
quant environment's test (`make test-quant`) measures GPTQ and AWQ on the same text."""
NEW_TOKENS = 32


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--tiny", action="store_true", help="bench a tiny random chat model instead")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated: " + ", ".join(METHODS))
    parser.add_argument("--max_ppl_ratio", type=float, default=1.15)
    parser.add_argument("--output", type=Path, default=Path("bench/results/export.json"))
    args = parser.parse_args()
    unknown = set(args.methods.split(",")) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; known: {', '.join(METHODS)}")
    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        results = bench(_reference(args, work), args.methods.split(","), work, args.max_ppl_ratio)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    for row in results["rows"]:
        print(json.dumps(row))
    failed = [r["method"] for r in results["rows"] if r.get("passed") is False]
    print(f"wrote {args.output}; failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


def _reference(args: argparse.Namespace, work: Path) -> Path:
    """The unquantized model as a Hugging Face folder."""
    if args.tiny:
        from tunekite.testing import save_tiny_chat_model

        return save_tiny_chat_model(work / "tiny", hidden_size=64, intermediate_size=128)
    from tunekite.api import model_folder, resolve

    return Path(model_folder(resolve("infer", ["--model", args.model])[0]))


def bench(reference: Path, methods: list[str], work: Path, max_ratio: float) -> dict[str, Any]:
    from tunekite.api import start

    prompts = work / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"messages": [{"role": "user", "content": p}]}) + "\n" for p in PROMPTS)
    )
    base = measure(reference, reference, prompts, work / "reference")
    rows = [{"method": "reference", **base, "export_s": 0.0}]
    for method in methods:
        if method.startswith(("gptq", "awq")) and not _has("gptqmodel"):
            rows.append({"method": method, "skipped": "needs gptqmodel: `make quant-env`"})
            continue
        out = work / method
        began = time.perf_counter()
        exported = start("export", ["--model", str(reference), *METHODS[method], "--output_dir", str(out)])
        export_s = time.perf_counter() - began
        row = {"method": method, **measure(Path(exported), reference, prompts, work / f"{method}-infer")}
        row["export_s"] = round(export_s, 2)
        row["ppl_ratio"] = round(row["perplexity"] / base["perplexity"], 4)
        row["same_answers"] = sum(a == b for a, b in zip(row.pop("answers"), base["answers"], strict=True))
        row["passed"] = row["ppl_ratio"] <= max_ratio
        rows.append(row)
    rows[0]["same_answers"] = len(PROMPTS)
    rows[0].pop("answers")
    return {"reference": str(reference), "prompts": len(PROMPTS), "new_tokens": NEW_TOKENS, "rows": rows}


def measure(path: Path, reference: Path, prompts: Path, folder: Path) -> dict[str, Any]:
    """Size, load time, perplexity on HELD_OUT, and greedy answers with tokens/s via `tk run infer`."""
    import torch
    from transformers import AutoTokenizer

    from tunekite.api import load_model, resolve, start

    began = time.perf_counter()
    model, _ = load_model(resolve("infer", ["--model", str(path)])[0])
    load_s = time.perf_counter() - began
    tokenizer = AutoTokenizer.from_pretrained(reference)
    ids = torch.tensor([tokenizer(HELD_OUT)["input_ids"]])
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss.float().item()
    del model
    results = folder / "answers.jsonl"
    argv = ["--model", str(path), "--val_dataset", str(prompts), "--result_path", str(results)]
    argv += ["--max_new_tokens", str(NEW_TOKENS), "--temperature", "0", "--max_batch_size", "8"]
    began = time.perf_counter()
    start("infer", [*argv, "--output_dir", str(folder)])
    infer_s = time.perf_counter() - began
    answers = [json.loads(line)["response"] for line in results.read_text().splitlines()]
    tokens = sum(len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)
    return {
        "size_mb": round(_size(path) / 2**20, 2),
        "load_s": round(load_s, 2),
        "tokens_per_s": round(tokens / max(infer_s - load_s, 1e-6), 1),
        "perplexity": round(math.exp(loss), 3),
        "answers": answers,
    }


def _size(path: Path) -> int:
    files = (
        [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and p.name != "args.json"]
    )
    return sum(p.stat().st_size for p in files)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    sys.exit(main())
