#!/usr/bin/env bash
# bench/sft.py on a CUDA GPU lent by the `device` tool, whose machine has torch and
# transformers but no network: run `make bench-gpu-kit` here, then there, with `.gpu-kit`
# carried, `bash bench/gpu.sh`. SmolLM2-135M's architecture trains with seeded random
# weights (its 98 MB GGUF is over what travels); results go to $OUT/sft-gpu.json (the
# device tool's folder that comes back) or bench/results/, with the end of every run's log in
# sft-gpu-logs.txt. Extra arguments reach bench/sft.py; WORK=... moves its working folder.
set -euo pipefail
KIT=${KIT:-.gpu-kit}
PYTHON=${PYTHON:-python3}
SITE=${SITE:-/tmp/tunekite-site}
test -d "$KIT/wheels" || { echo "$KIT/wheels missing: run make bench-gpu-kit and carry $KIT" >&2; exit 2; }
"$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "$KIT"/wheels/*.whl
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" PATH="$SITE/bin:$PATH"
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
WORK=${WORK:-/tmp/bench-sft-gpu}
RESULTS=${OUT:-bench/results}
mkdir -p "$RESULTS"
status=0
"$PYTHON" bench/sft.py --model_dir "$KIT/smollm2-135m" --random_weights --steps 30 \
    --work "$WORK" --output "$RESULTS/sft-gpu.json" "$@" || status=$?
# Each run's log stays on that machine: the last lines of each come back in one file.
for log in "$WORK"/*.log; do
    if [ -f "$log" ]; then echo "== $log"; tail -n 40 "$log"; fi
done > "$RESULTS/sft-gpu-logs.txt"
exit $status
