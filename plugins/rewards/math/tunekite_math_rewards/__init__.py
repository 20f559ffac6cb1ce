"""Math rewards for GRPO: `accuracy` (the final answer checked with math-verify against
the row's `solution` column) and `cosine` (accuracy shaped by completion length)."""
