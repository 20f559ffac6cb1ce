"""Finding the bad lines of a dataset file that `datasets` could not read whole.

`datasets` reads a file fast but fails on the whole file at its first malformed line
(truncated JSON, trailing garbage) and passes invalid UTF-8 through to fail later,
without naming the line. So a file is first scanned cheaply (bytes only: UTF-8 and
blank lines); only a file that fails the scan or the fast read is parsed here line by
line, to name its bad lines and to hand `datasets` a copy holding only the good ones.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20


@dataclass(frozen=True)
class BadLine:
    """One line (or CSV record, by its first line) that cannot be read as a row."""

    line: int
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Scan:
    """What a byte-level pass over a text file found."""

    utf8: bool
    empty: bool
    blank_lines: bool


_BLANK = re.compile(rb"\n[ \t\r]*\n")


def scan(path: Path) -> Scan:
    """UTF-8 validity, emptiness and blank lines, at about the speed of reading the file."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, empty, blank, tail = True, True, False, b"\n"  # the file starts a line
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            empty = empty and not chunk.strip()
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
            window = tail + chunk  # from the last newline read: a blank line may straddle chunks
            blank = blank or bool(_BLANK.search(window))
            cut = window.rfind(b"\n")
            tail = window[cut:] if cut >= 0 else window
            if tail.strip():  # the line in progress holds something, so it is not blank
                tail = b""
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    return Scan(utf8, empty, blank)


def nonblank_lines(path: Path) -> list[int]:
    """The 1-based numbers of the lines that hold something (`datasets` skips the others)."""
    with path.open("rb") as f:
        return [n for n, line in enumerate(f, 1) if line.strip()]


def _decoded(path: Path, *, blank: bool = False) -> tuple[list[tuple[int, str]], list[BadLine]]:
    """Every line as text (blank ones only if asked), and the lines that are not UTF-8."""
    good, bad = [], []
    with path.open("rb") as f:
        for n, raw in enumerate(f, 1):
            if not blank and not raw.strip():
                continue
            try:
                good.append((n, raw.decode("utf-8")))
            except UnicodeDecodeError as exc:
                bad.append(BadLine(n, "not UTF-8", f"byte {raw[exc.start]:#04x} at column {exc.start + 1}"))
    return good, bad


def _json_detail(exc: json.JSONDecodeError) -> str:
    return f"{exc.msg.removesuffix(' at')} at column {exc.colno}"


def json_lines(path: Path) -> tuple[list[int], str, list[BadLine]]:
    """JSON Lines: the numbers and text of the lines holding a JSON object, and the rest."""
    decoded, bad = _decoded(path)
    numbers, texts = [], []
    for n, line in decoded:
        text = line.rstrip("\r\n")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            bad.append(BadLine(n, "not valid JSON", _json_detail(exc)))
            continue
        if not isinstance(value, dict):
            bad.append(BadLine(n, "not a JSON object", f"a JSON {type(value).__name__}"))
            continue
        numbers.append(n)
        texts.append(text)
    return numbers, "".join(t + "\n" for t in texts), sorted(bad, key=lambda b: b.line)


def json_document(path: Path) -> BadLine | None:
    """Where a whole-file JSON document (an array of rows) breaks, or None if it parses."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadLine(raw.count(b"\n", 0, exc.start) + 1, "not UTF-8", f"byte {raw[exc.start]:#04x}")
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return BadLine(exc.lineno, "not valid JSON", _json_detail(exc))
    return None


def csv_records(path: Path) -> tuple[list[int], str, list[BadLine]]:
    """CSV: the first line of each good record, the good records (header first) as CSV
    text, and the records that are not UTF-8 or have the wrong number of fields."""
    decoded, bad = _decoded(path, blank=True)  # a quoted field may hold a blank line
    numbers_of = [n for n, _ in decoded]
    reader = csv.reader(io.StringIO("".join(t for _, t in decoded), newline=""))
    out = io.StringIO()
    writer = csv.writer(out)
    header, numbers, consumed = None, [], 0
    while True:
        start = numbers_of[consumed] if consumed < len(numbers_of) else None
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # the reader goes on with the next record
            bad.append(BadLine(start or 0, "not valid CSV", str(exc)))
            consumed = reader.line_num
            continue
        consumed = reader.line_num
        if not record:
            continue
        if header is None:
            header = record
            writer.writerow(record)
        elif len(record) != len(header):
            bad.append(
                BadLine(start or 0, "wrong number of fields", f"{len(record)}, the header has {len(header)}")
            )
        else:
            numbers.append(start)
            writer.writerow(record)
    return numbers, out.getvalue(), sorted(bad, key=lambda b: b.line)
