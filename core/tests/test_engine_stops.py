"""The reply rules every engine shares (pt, vLLM, LMDeploy): cutting at stop words, holding
back what may still become one while streaming, and per-step logprobs as `TokenLogprob`s."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tunekite.api import StopWords, TokenLogprob, token_logprobs
from tunekite.engines.stops import partial_stop

STOPS = StopWords(words=("<|im_end|>",), stripped=("<|im_end|>", "<|endoftext|>"))


# Cutting ------------------------------------------------------------------------------


def test_cut_drops_the_end_of_turn_and_keeps_request_stops() -> None:
    assert STOPS.cut("Hi<|im_end|>") == ("Hi", True)
    assert STOPS.cut("one END two<|im_end|>", ["END"]) == ("one END", True)
    assert STOPS.cut("no stop") == ("no stop", False)


def test_cut_at_the_first_stop_word() -> None:
    assert STOPS.cut("a<|im_end|>b END", ["END"]) == ("a", True)
    assert STOPS.cut("a END b<|im_end|>", ["", "END"]) == ("a END", True)  # empty words are ignored


def test_partial_stop_is_the_longest_start_of_a_stop_word() -> None:
    assert partial_stop("text<|im", ["<|im_end|>"]) == 4
    assert partial_stop("text<", ["<|im_end|>", "<|im_start|>"]) == 1
    assert partial_stop("text", ["<|im_end|>"]) == 0
    assert partial_stop("EN", ["END", "ENDLESS"]) == 2
    assert partial_stop("END", ["END"]) == 0  # a whole stop word is cut, not held back


def test_settled_holds_back_a_possible_stop_word_and_half_characters() -> None:
    assert STOPS.settled("Hello <|im") == ("Hello ", False)
    assert STOPS.settled("Hello E", ["END"]) == ("Hello ", False)
    assert STOPS.settled("Hello \ufffd") == ("Hello ", False)
    assert STOPS.settled("Hello<|im_end|>more") == ("Hello", True)


def test_stop_words_of_a_template() -> None:
    """Special-token stop words become ids, the others stop strings; the end-of-turn, the
    format's stop words and EOS are removed from replies."""
    fmt = SimpleNamespace(assistant_end="<|im_end|>", stop_words=("Observation:",))
    template = SimpleNamespace(format=fmt, stop_words=("<|im_end|>", "Observation:"))
    tokenizer = SimpleNamespace(
        all_special_tokens=["<|endoftext|>"],
        get_added_vocab=lambda: {"<|im_end|>": 7},
        convert_tokens_to_ids={"<|im_end|>": 7}.get,
        eos_token="<|endoftext|>",
    )
    stops = StopWords.of(template, tokenizer)
    assert (stops.words, stops.token_ids, stops.strings) == (
        ("<|im_end|>", "Observation:"),
        (7,),
        ("Observation:",),
    )
    assert stops.stripped == ("<|im_end|>", "Observation:", "<|endoftext|>")
    assert stops.cut("Hi Observation: x") == ("Hi ", True)  # a template stop word is removed


# Streaming ----------------------------------------------------------------------------


@pytest.mark.parametrize("reply", ["Hello kite<|im_end|>", "Hello <|im kite", "one END two", "a<b"])
def test_stream_deltas_join_to_the_cut_reply(reply: str) -> None:
    deltas = list(STOPS.stream(iter(reply), ["END"]))
    assert "".join(deltas) == STOPS.cut(reply, ["END"])[0]
    assert all(deltas)


def test_stream_never_sends_part_of_an_end_of_turn() -> None:
    deltas = list(STOPS.stream(iter("Hello kite<|im_end|>")))
    assert "".join(deltas) == "Hello kite" and not any("<" in d for d in deltas)


def test_stream_of_cumulative_text() -> None:
    texts = ["He", "Hello", "Hello <|im", "Hello <|im_end|>", "Hello <|im_end|> junk"]
    assert list(STOPS.stream(texts, cumulative=True)) == ["He", "llo", " "]


def test_stream_flushes_the_held_back_end_when_generation_ends() -> None:
    assert list(STOPS.stream(["Hello <|", "im"])) == ["Hello ", "<|im"]


def test_stream_closes_its_source_at_a_stop_word() -> None:
    closed = []

    def source():
        try:
            yield from ["Hi", "<|im_end|>", "never"]
        finally:
            closed.append(True)

    assert list(STOPS.stream(source())) == ["Hi"]
    assert closed == [True]


# Logprobs -----------------------------------------------------------------------------


def decode(ids: list[int]) -> str:
    return f"<{ids[0]}>"


def test_logprobs_rank_by_the_given_rank() -> None:
    step = {
        5: SimpleNamespace(logprob=-0.5, rank=2),
        6: SimpleNamespace(logprob=-0.2, rank=1),
        7: SimpleNamespace(logprob=-3.0, rank=3),
    }
    assert token_logprobs([5], [step], 2, decode) == [
        TokenLogprob(
            token="<5>",
            logprob=-0.5,
            top_logprobs=[TokenLogprob(token="<6>", logprob=-0.2), TokenLogprob(token="<5>", logprob=-0.5)],
        )
    ]


def test_logprobs_of_plain_floats_rank_by_value() -> None:
    [entry] = token_logprobs([7], [{8: -2.5, 7: -0.1, 9: -3.0}], 2, decode)
    assert (entry.token, entry.logprob) == ("<7>", -0.1)
    assert [(t.token, t.logprob) for t in entry.top_logprobs] == [("<7>", -0.1), ("<8>", -2.5)]


def test_logprobs_without_top_or_steps() -> None:
    [entry] = token_logprobs([7], [{7: -0.1, 8: -2.5}], None, decode)
    assert entry.top_logprobs == []
    assert token_logprobs([7], None, 2, decode) == []
    [missing] = token_logprobs([4], [{7: -0.1}], 0, decode)
    assert missing.logprob == float("-inf")
