"""Scoring generated text: the metric functions (`metrics`), the way a task gets answers
from an engine or a running server (`answering`), and what an evaluator returns
(`results`). Plugins reach them through `tunekite.api`."""
