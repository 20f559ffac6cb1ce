"""ms-swift and LLaMA-Factory run through their own command lines, in their own environments
(`make bench-peers`), beside TuneKite in the same bench run: every peer figure in a results
file comes from a run of that bench, never from a number typed in."""
