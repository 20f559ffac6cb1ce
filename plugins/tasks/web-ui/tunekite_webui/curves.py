"""Training curves as inline SVG, drawn from `logging.jsonl` records: no plotting library
and nothing fetched, so the page works offline and a test can count the points drawn."""

from __future__ import annotations

from html import escape
from typing import Any

CURVES = ("loss", "learning_rate", "token_acc", "seq_acc", "eval_loss")
"""The logged values that get a curve, when a run logs them."""
WIDTH, HEIGHT, PAD = 360, 160, 28


def series(records: list[dict[str, Any]], key: str) -> list[tuple[float, float]]:
    """(step, value) of every record that logged `key`."""
    return [(float(r["step"]), float(r[key])) for r in records if key in r and "step" in r]


def svg_curve(name: str, points: list[tuple[float, float]]) -> str:
    """One curve: a polyline scaled into its box, its last value in the title."""
    last = f"{points[-1][1]:.4g}" if points else "-"
    head = (
        f'<svg class="tk-curve" data-metric="{escape(name)}" data-points="{len(points)}" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="{PAD}" y="14" font-size="12">{escape(name)}: {last}</text>'
    )
    if not points:
        return head + "</svg>"
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)

    def scale(x: float, y: float) -> str:
        px = PAD + (x - x0) / ((x1 - x0) or 1) * (WIDTH - 2 * PAD)
        py = HEIGHT - PAD - (y - y0) / ((y1 - y0) or 1) * (HEIGHT - 2 * PAD - 10)
        return f"{px:.1f},{py:.1f}"

    line = " ".join(scale(x, y) for x, y in points)
    axes = (
        f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="10">step {x0:g}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" font-size="10" text-anchor="end">{x1:g}</text>'
    )
    return head + axes + f'<polyline fill="none" stroke="#2563eb" stroke-width="2" points="{line}"/></svg>'


def curves_html(records: list[dict[str, Any]]) -> str:
    """Every curve the records have, side by side."""
    drawn = [svg_curve(key, series(records, key)) for key in CURVES if series(records, key)]
    return '<div class="tk-curves">' + "".join(drawn or [svg_curve("loss", [])]) + "</div>"
