"""`--sampler_type mcts`: a Monte Carlo tree search over reasoning steps (ms-swift's
`MctsSampler`), one prompt at a time.

A node is the answer so far, a sequence of steps. A step ends at the step separator (the
first `--stop_words` entry, else a newline); a completion that ends without one (end of
turn or `--max_new_tokens`) is a finished answer, and the outcome reward scores it. Each
round: *select* a leaf, descending by UCT (`exploration_rate`; a node's value mixes process
and outcome reward by `process_reward_rate`); *expand* it with `num_return_sequences`
sampled next steps (the same ones merge), which the process reward scores; from
`rollout_start_depth` on, *roll out* each new child greedily for up to `rollout_depth`
steps and score what finishes; *back-propagate* the best child's value. The search stops
when the root is exhausted, `num_return_sequences` answers have finished, the rollouts say
the prompt is too easy or too hard, or after `max_iterations` rounds.

Unlike ms-swift, which continues a partial answer by sending it back as an assistant turn
followed by a "Continue." user turn, the partial answer is continued in place: the request
is the template's generation prompt plus the answer's tokens (`ChatRequest.prompt` ids).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tunekite_sample.prompts import Prompt
from tunekite_sample.scoring import Judge

CORRECT = 0.9
"""An outcome reward above this counts as a correct answer (ms-swift's threshold)."""


@dataclass(eq=False)
class Node:
    """The answer so far: its steps, visits and rewards."""

    steps: list[str] = field(default_factory=list)
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    active: list[Node] = field(default_factory=list)
    visits: int = 0
    process_reward: float = 0.0
    outcome_reward: float = 0.0
    terminated: bool = False
    correct: bool = False

    @property
    def depth(self) -> int:
        return len(self.steps)

    def answer(self, sep: str) -> str:
        """The steps joined as the model wrote them: each but a finished last one ends in `sep`."""
        body = sep.join(self.steps)
        return body if self.terminated or not self.steps else body + sep

    def add(self, child: Node) -> None:
        self.children.append(child)
        if not child.terminated:
            self.active.append(child)

    def update(self, value: float) -> None:
        """The running mean over visits (ms-swift's `init_and_update_value`)."""
        self.outcome_reward = (self.outcome_reward * self.visits + value) / (self.visits + 1)

    def tree(self) -> dict[str, Any]:
        """This subtree as plain data: the output's `monte_carlo_tree`."""
        return {
            "path": self.steps,
            "depth": self.depth,
            "visit_count": self.visits,
            "process_reward": self.process_reward,
            "outcome_reward": self.outcome_reward,
            "terminated": self.terminated,
            "correct": self.correct,
            "children": [child.tree() for child in self.children],
        }


@dataclass
class Result:
    """A finished search: the root, every finished answer with its outcome, why it stopped."""

    root: Node
    answers: list[tuple[str, float]]
    stop_reason: str
    iterations: int


def step_of(text: str, sep: str) -> tuple[str, bool]:
    """(the first step of a completion, whether the answer finished with it)."""
    if sep in text:
        return text.split(sep, 1)[0], False
    return text, True


class Search:
    """MCTS over one engine and the run's rewards (an outcome reward is required)."""

    def __init__(
        self,
        run: Any,
        engine: Any,
        template: Any,
        tokenizer: Any,
        judge: Judge,
        sep: str,
    ) -> None:
        from tunekite.api import request_from_generation

        self.run, self.engine, self.template, self.tokenizer, self.judge, self.sep = (
            run, engine, template, tokenizer, judge, sep,
        )  # fmt: skip
        generation = run.groups["generation"]
        base = request_from_generation([], generation)
        stop = (*base.stop, sep) if sep not in base.stop else tuple(base.stop)
        self.expand_request = dataclasses.replace(base, stop=stop)
        self.rollout_request = dataclasses.replace(base, stop=stop, temperature=0.0)

    def _requests(self, prompt: Prompt, answer: str, template: Any, copies: int) -> list[Any]:
        """`copies` requests continuing `answer`, the answer so far, in place."""
        if not answer:
            request = dataclasses.replace(template, messages=prompt.messages, tools=prompt.tools)
        else:
            ids = list(self.template.prompt_ids(prompt.messages, prompt.tools))
            ids += self.tokenizer(answer, add_special_tokens=False)["input_ids"]
            request = dataclasses.replace(template, messages=prompt.messages, prompt=ids)
        return [dataclasses.replace(request) for _ in range(copies)]

    def _outcomes(self, prompt: Prompt, answers: Sequence[str]) -> list[float]:
        return self.judge.outcome(answers, prompt.columns, self.rendered) or []

    def search(self, prompt: Prompt) -> Result:
        run, sep = self.run, self.sep
        self.rendered = self.template.render(prompt.messages, prompt.tools, generation=True)
        root = Node()
        answers: list[tuple[str, float]] = []
        finished: list[Node] = []
        rollout_right = rollout_wrong = 0

        def uct(node: Node) -> float:
            rate = run.process_reward_rate
            value = rate * node.process_reward + (1 - rate) * node.outcome_reward
            parent = node.parent
            if parent is None:
                return value
            return value + run.exploration_rate * math.sqrt(math.log(parent.visits + 1) / (node.visits + 1))

        def select() -> Node:
            node = root
            while node.children:
                node = max(node.active, key=uct)
            return node

        def expand(node: Node) -> None:
            requests = self._requests(prompt, node.answer(sep), self.expand_request, run.num_return_sequences)
            texts = [response.text for response in self.engine.infer(requests)]
            new: list[Node] = []
            for text in texts:
                step, done = step_of(text, sep)
                if any(c.steps[-1] == step and c.terminated == done for c in node.children):
                    continue
                child = Node(steps=[*node.steps, step], parent=node, terminated=done)
                node.add(child)
                new.append(child)
            ended = [c for c in new if c.terminated]
            for child, score in zip(
                ended, self._outcomes(prompt, [c.answer(sep) for c in ended]), strict=True
            ):
                child.update(score)
                child.correct = score > CORRECT
                finished.append(child)
                answers.append((child.answer(sep), score))
            process = (
                self.judge.process([c.answer(sep) for c in new], prompt.columns, self.rendered)
                if new
                else None
            )
            for child, score in zip(new, process or [], strict=False):
                child.process_reward = score

        def rollout(node: Node) -> None:
            nonlocal rollout_right, rollout_wrong
            live = {id(c): (c, c.answer(sep)) for c in node.active}
            for _ in range(run.rollout_depth):
                if not live:
                    break
                keys = list(live)
                requests = [self._requests(prompt, live[k][1], self.rollout_request, 1)[0] for k in keys]
                ended: list[tuple[Node, str]] = []
                for key, response in zip(keys, self.engine.infer(requests), strict=True):
                    child, text = live[key]
                    step, done = step_of(response.text, sep)
                    text = text + step + ("" if done else sep)
                    if done:
                        ended.append((child, text))
                        del live[key]
                    else:
                        live[key] = (child, text)
                for (child, text), score in zip(
                    ended, self._outcomes(prompt, [t for _, t in ended]), strict=True
                ):
                    child.update(score)
                    answers.append((text, score))
                    if score > CORRECT:
                        rollout_right += 1
                    else:
                        rollout_wrong += 1

        def back_propagate(start: Node) -> None:
            node: Node | None = start
            value = max(c.outcome_reward for c in start.children) if start.children else start.outcome_reward
            while node is not None:
                node.update(value)
                value = node.outcome_reward
                node.visits += 1
                if not node.active:
                    node.terminated = True
                    if node.parent is not None and node in node.parent.active:
                        node.parent.active.remove(node)
                node = node.parent

        iterations, reason = 0, "max_iterations"
        while True:
            node = select()
            expand(node)
            if node.depth >= run.rollout_start_depth:
                rollout(node)
            back_propagate(node)
            iterations += 1
            if rollout_right + rollout_wrong >= 2 * run.num_return_sequences:
                if 4 * rollout_wrong < rollout_right:
                    reason = "too easy"
                    break
                if 4 * rollout_right < rollout_wrong:
                    reason = "too hard"
                    break
            if root.terminated:
                reason = "root terminated"
                break
            if len(finished) >= run.num_return_sequences:
                reason = "enough answers"
                break
            if iterations >= run.max_iterations:
                break
        return Result(root, answers, reason, iterations)


def result_row(prompt: Prompt, result: Result) -> dict[str, Any]:
    """The output row of a search: the best finished answer as the reply, the worst as
    `rejected_response` when it scored lower, and the tree (a JSON string, as ms-swift's
    `collect_from_mct` reads it). Without a finished answer the row is the prompt alone."""
    extra: dict[str, Any] = {
        "monte_carlo_tree": json.dumps(result.root.tree(), ensure_ascii=False),
        "stop_reason": result.stop_reason,
        "iterations": result.iterations,
    }
    if not result.answers:
        return prompt.row(**extra)
    best = max(result.answers, key=lambda a: a[1])
    worst = min(result.answers, key=lambda a: a[1])
    if worst[1] < best[1]:
        extra["rejected_response"] = worst[0]
    return prompt.row(best[0], orm_score=best[1], **extra)
