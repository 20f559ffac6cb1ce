"""TuneKite's native evaluator: scores replies offline, on local data and HumanEval."""
