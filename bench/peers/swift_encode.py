"""ms-swift's template encode over a rows file, timed; run in .venv-swift by bench/templates.py.

Usage: swift_encode.py MODEL_DIR ROWS_JSONL SYSTEM. Prints one JSON line: rows, seconds,
rows_per_s, cpu_seconds, tokens_per_row (the same figures bench/templates.py records for TuneKite).
"""

import json
import sys
import time

from swift.model import get_processor
from swift.template import get_template


def main() -> None:
    model_dir, rows_file, system = sys.argv[1:4]
    processor = get_processor(model_dir, model_type="llama")
    template = get_template(processor, default_system=system, template_type="chatml")
    with open(rows_file, encoding="utf-8") as source:
        rows = [json.loads(line) for line in source]
    start, cpu = time.perf_counter(), time.process_time()
    tokens = sum(len(template.encode(row)["input_ids"]) for row in rows)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    summary = {
        "rows": len(rows),
        "seconds": round(seconds, 2),
        "rows_per_s": round(len(rows) / seconds),
        "cpu_seconds": round(cpu, 2),
        "tokens_per_row": round(tokens / len(rows), 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
