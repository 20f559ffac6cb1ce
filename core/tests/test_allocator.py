"""glibc gives a freed tensor's memory back once `return_freed_memory` fixed its mmap
threshold, even after a free that would have raised the threshold (glibc, as on every
Linux this project runs on)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import torch
from tunekite.training.allocator import return_freed_memory

def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

set_ = {set_}
if set_:
    assert return_freed_memory()
torch.empty(8 * 2**20, dtype=torch.uint8).fill_(1)  # 8 MB: freed, it raises glibc's threshold
kept = []
before = rss_mb()
for _ in range(40):
    kept.append(torch.ones(2**18))  # 1 MB each, from the heap unless the threshold is fixed
    kept.append(torch.ones(16))
del kept[::2]  # free the large ones, keep the small ones between them
print(rss_mb() - before)
"""


def grown_mb(fixed: bool) -> float:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(set_=fixed)], capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip())


def test_freed_tensors_leave_the_process_with_the_threshold_fixed():
    assert grown_mb(fixed=False) > 30  # glibc keeps the freed megabytes between live chunks
    assert grown_mb(fixed=True) < 10
