"""`--sampler_type sample`: `--num_return_sequences` completions per prompt, scored, the
best kept (ms-swift's `VanillaSampler`).

The engine contract answers one choice per request (`ChatRequest.n` is 1 in the pt and
vLLM engines), so N completions are N requests of the same prompt without a per-request
seed: the engine batches them (`--max_batch_size`) and each row samples on its own, while
`--seed` makes the run repeatable. A prompt the `--cache_files` hold is not generated
again. Without rewards every completion is a row (the cache format); with them, the kept
ones are rows whose `rejected_response` is the group's worst completion.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from tunekite.api import ArgumentError
from tunekite_sample.engine import generates
from tunekite_sample.prompts import Prompt
from tunekite_sample.scoring import Judge, choose


class BestOfN:
    """Generates (or takes from the cache) and chooses, one batch of prompts at a time."""

    def __init__(
        self,
        run: Any,
        engine: Callable[[], Any],
        render: Callable[[Prompt], str],
        judge: Judge,
        cache: dict[str, list[str]],
    ) -> None:
        self.run, self.engine, self.render, self.judge, self.cache = run, engine, render, judge, cache

    def rows(self, prompts: Sequence[Prompt]) -> list[dict[str, Any]]:
        """The output rows of a batch of prompts, in prompt order."""
        completions = self.completions(prompts)
        out: list[dict[str, Any]] = []
        for prompt, texts in zip(prompts, completions, strict=True):
            out.extend(self.keep(prompt, texts))
        return out

    def check_cached(self, prompts: Sequence[Prompt]) -> None:
        """Without an engine (`--sampler_engine no`), every prompt must be in the cache."""
        missing = [p for p in prompts if p.id not in self.cache]
        if missing and not generates(self.run):
            raise ArgumentError(
                f"--sampler_engine {self.run.sampler_engine}: {len(missing)} prompt(s) lack completions in "
                f"--cache_files (first: id {missing[0].id}); name an engine to generate them"
            )

    def completions(self, prompts: Sequence[Prompt]) -> list[list[str]]:
        """N completions per prompt: cached ones as they are, the others generated together."""
        from tunekite.api import request_from_generation

        n = self.run.num_return_sequences
        missing = [p for p in prompts if p.id not in self.cache]
        generation = self.run.groups["generation"]
        requests = []
        for prompt in missing:
            request = request_from_generation(prompt.messages, generation, prompt.tools)
            requests += [dataclasses.replace(request) for _ in range(n)]
        texts = iter(response.text for response in self.engine().infer(requests)) if requests else iter(())
        generated = {p.id: [next(texts) for _ in range(n)] for p in missing}
        return [self.cache.get(p.id) or generated[p.id] for p in prompts]

    def keep(self, prompt: Prompt, texts: list[str]) -> list[dict[str, Any]]:
        """A prompt's rows: every completion without rewards, else the chosen ones."""
        if self.judge.orm is None and self.judge.prm is None:
            return [prompt.row(text) for text in texts]
        rendered = self.render(prompt)
        outcome = self.judge.outcome(texts, prompt.columns, rendered)
        process = self.judge.process(texts, prompt.columns, rendered)
        kept = choose(
            outcome,
            process,
            n_best=self.run.n_best_to_keep,
            prm_threshold=self.run.prm_threshold,
            easy_query_threshold=self.run.easy_query_threshold,
        )
        rows, seen = [], set()
        for k in kept:
            if texts[k.index] in seen:  # a completion sampled twice is one row
                continue
            seen.add(texts[k.index])
            extra: dict[str, Any] = {}
            if k.rejected is not None:
                extra["rejected_response"] = texts[k.rejected]
            if outcome is not None:
                extra["orm_score"] = outcome[k.index]
            if process is not None:
                extra["prm_score"] = process[k.index]
            rows.append(prompt.row(texts[k.index], **extra))
        return rows
