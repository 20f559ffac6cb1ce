"""Named public benchmarks for `tk run eval` through lm-evaluation-harness."""
