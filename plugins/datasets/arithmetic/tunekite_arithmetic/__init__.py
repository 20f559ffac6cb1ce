"""The arithmetic dataset: prompt-only rows ("What is 17 + 25? ...") with a `solution`
column, for GRPO with the `accuracy` reward."""
