"""Inline SVG charts drawn in Python: no JavaScript library, no network asset.

Each function returns one ``<svg class="chart">`` element as text. Every label is escaped;
every mark carries a ``<title>`` so a browser shows the exact value on hover; labels longer
than the space for them are cut (:func:`clip`) and carry the full text in a ``<title>``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from html import escape

PALETTE = (
    "#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea",
    "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d",
)  # fmt: skip
WIDTH = 760
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 48


def _svg(height: int, label: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}">' + "".join(body) + "</svg>"
    )


def empty_chart(label: str, message: str = "no data yet") -> str:
    """A placeholder chart saying there is nothing to draw."""
    return _svg(
        80,
        label,
        [
            f'<rect x="0" y="0" width="{WIDTH}" height="80" fill="#f8fafc" stroke="#e2e8f0"/>',
            f'<text x="{WIDTH // 2}" y="45" text-anchor="middle" fill="#64748b">'
            f"{escape(message)}</text>",
        ],
    )


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis, when it is longer (the
    caller puts the full text in a ``<title>`` / ``title`` attribute)."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "\u2026"


def nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``: four grid steps of 1, 2, 2.5 or 5 times a
    power of ten, so every grid label is a round number."""
    if value <= 0:
        return 1.0
    quarter = value / 4
    power = 10 ** math.floor(math.log10(quarter))
    for step in (1, 2, 2.5, 5, 10):
        if quarter <= step * power:
            return float(4 * step * power)
    return float(40 * power)  # pragma: no cover - the loop always returns


def _fmt(value: float) -> str:
    if value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _y_axis(height: int, top: float, percent: bool = False) -> list[str]:
    plot_h = height - TOP - BOTTOM
    out = []
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        text = f"{value * 100:.0f}%" if percent else _fmt(value)
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#e5e7eb"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#475569">{text}</text>'
        )
    return out


def _x_dates(height: int, days: Sequence[date]) -> tuple[list[str], dict[date, float]]:
    first, last = days[0], days[-1]
    span = max((last - first).days, 1)
    plot_w = WIDTH - LEFT - RIGHT
    xs = {d: LEFT + plot_w * (d - first).days / span for d in days}
    ticks = sorted({days[round(i * (len(days) - 1) / 5)] for i in range(6)})
    anchor = {first: "start", last: "end"}
    out = [
        f'<text x="{xs[d]:.1f}" y="{height - BOTTOM + 16}" '
        f'text-anchor="{anchor.get(d, "middle")}" font-size="11" fill="#475569">'
        f"{d.isoformat()}</text>"
        for d in ticks
    ]
    return out, xs


def _legend(height: int, labels: Sequence[str]) -> list[str]:
    out = []
    x = LEFT
    for i, label in enumerate(labels):
        color = PALETTE[i % len(PALETTE)]
        out.append(
            f'<rect x="{x}" y="{height - 18}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14}" y="{height - 9}" font-size="11" fill="#1e293b">'
            f"{escape(clip(label, 24))}<title>{escape(label)}</title></text>"
        )
        x += 24 + 7 * len(clip(label, 24))
    return out


def line_chart(
    label: str, days: Sequence[date], series: Sequence[tuple[str, Sequence[float]]]
) -> str:
    """One line per series over days (days ascending, one value per day per series)."""
    if not days:
        return empty_chart(label)
    height = 280
    top = nice_max(max((max(values, default=0) for _, values in series), default=0))
    plot_h = height - TOP - BOTTOM
    ticks, xs = _x_dates(height, days)
    body = [*_y_axis(height, top), *ticks]
    for i, (name, values) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        points = [
            (xs[d], TOP + plot_h - plot_h * v / top) for d, v in zip(days, values, strict=True)
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(
            f'<polyline class="series" fill="none" stroke="{color}" stroke-width="2" '
            f'points="{path}"><title>{escape(name)}</title></polyline>'
        )
        for (x, y), d, v in zip(points, days, values, strict=True):
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}">'
                f"<title>{escape(name)} {d.isoformat()}: {_fmt(v)}</title></circle>"
            )
    body += _legend(height, [name for name, _ in series])
    return _svg(height, label, body)


def stacked_share_chart(
    label: str, days: Sequence[date], series: Sequence[tuple[str, Sequence[float]]]
) -> str:
    """Stacked areas of shares (0..1) per day, first series at the bottom."""
    if not days or not series:
        return empty_chart(label)
    height = 300
    plot_h = height - TOP - BOTTOM
    ticks, xs = _x_dates(height, days)
    body = [*_y_axis(height, 1.0, percent=True), *ticks]
    base = [0.0] * len(days)
    for i, (name, shares) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        upper = [b + s for b, s in zip(base, shares, strict=True)]
        top_pts = [
            f"{xs[d]:.1f},{TOP + plot_h - plot_h * min(u, 1.0):.1f}"
            for d, u in zip(days, upper, strict=True)
        ]
        low_pts = [
            f"{xs[d]:.1f},{TOP + plot_h - plot_h * min(b, 1.0):.1f}"
            for d, b in zip(days, base, strict=True)
        ]
        if len(days) == 1:  # a single day: draw a thin band so it stays visible
            x = xs[days[0]]
            top_pts = [
                f"{x - 4:.1f},{top_pts[0].split(',')[1]}",
                top_pts[0].replace(f"{x:.1f},", f"{x + 4:.1f},"),
            ]
            low_pts = [
                low_pts[0].replace(f"{x:.1f},", f"{x - 4:.1f},"),
                low_pts[0].replace(f"{x:.1f},", f"{x + 4:.1f},"),
            ]
        polygon = " ".join(top_pts + list(reversed(low_pts)))
        latest = shares[-1]
        body.append(
            f'<polygon class="series" fill="{color}" fill-opacity="0.85" stroke="white" '
            f'stroke-width="0.5" points="{polygon}"><title>{escape(name)}: '
            f"{latest * 100:.0f}% of users on {days[-1].isoformat()}</title></polygon>"
        )
        base = upper
    body += _legend(height, [name for name, _ in series])
    return _svg(height, label, body)


def column_chart(label: str, days: Sequence[date], values: Sequence[float], unit: str) -> str:
    """One bar per day."""
    if not days:
        return empty_chart(label, f"no {unit}")
    height = 240
    plot_h = height - TOP - BOTTOM
    top = nice_max(max(values, default=0))
    ticks, xs = _x_dates(height, days)
    span = max((days[-1] - days[0]).days, 1)
    bar_w = max(min((WIDTH - LEFT - RIGHT) / (span + 1) * 0.8, 24), 2)
    body = [*_y_axis(height, top), *ticks]
    for d, v in zip(days, values, strict=True):
        h = plot_h * v / top
        x = min(max(xs[d] - bar_w / 2, LEFT), WIDTH - RIGHT - bar_w)
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar_w:.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[3]}"><title>{d.isoformat()}: {_fmt(v)} {unit}'
            "</title></rect>"
        )
    return _svg(height, label, body)


def hbar_chart(label: str, items: Sequence[tuple[str, float, str]], unit: str) -> str:
    """Horizontal bars: (label, value, hover text), largest first as given."""
    if not items:
        return empty_chart(label, f"no {unit}")
    row_h = 24
    left = 180
    height = TOP + row_h * len(items) + 24
    top = nice_max(max(v for _, v, _ in items))
    plot_w = WIDTH - left - RIGHT - 48
    body = []
    for i, (name, value, hover) in enumerate(items):
        y = TOP + i * row_h
        w = plot_w * value / top
        body.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" font-size="12" '
            f'fill="#1e293b">{escape(clip(name, 26))}<title>{escape(name)}</title></text>'
            f'<rect class="bar" x="{left}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row_h - 8}"'
            f' fill="{PALETTE[1]}"><title>{escape(hover)}</title></rect>'
            f'<text x="{left + w + 6:.1f}" y="{y + 15}" font-size="12" fill="#475569">'
            f"{_fmt(value)} {escape(unit)}</text>"
        )
    return _svg(height, label, body)
