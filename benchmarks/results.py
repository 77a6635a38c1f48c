"""Figures, targets and the table they are printed in (plain text and Markdown)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

Log = Callable[[str], None]


def log_stderr(message: str) -> None:
    """Progress lines go to stderr; the table goes to stdout."""
    import sys

    sys.stderr.write(f"# {message}\n")
    sys.stderr.flush()


@dataclass
class Figure:
    """One measured figure, with its target (if any) and whether it was met."""

    section: str
    name: str
    value: float | None
    unit: str
    target: str = ""
    met: bool | None = None
    note: str = ""
    shown: str = ""  # display text instead of the value (e.g. "yes")

    def value_text(self) -> str:
        if self.shown:
            return self.shown
        if self.value is None:
            return "n/a"
        value = self.value
        if self.unit == "x":
            return f"{value:.2f}x"
        if abs(value) >= 100:
            text = f"{value:,.0f}"
        elif abs(value) >= 10:
            text = f"{value:.1f}"
        else:
            text = f"{value:.3g}" if value else "0"
        return f"{text} {self.unit}".strip()

    def verdict(self) -> str:
        if self.met is None:
            return ""
        return "met" if self.met else "MISSED"


@dataclass
class Results:
    """Every figure of one run, in the order measured."""

    figures: list[Figure] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def add(
        self,
        section: str,
        name: str,
        value: float | None,
        unit: str,
        *,
        target: str = "",
        met: bool | None = None,
        note: str = "",
    ) -> Figure:
        figure = Figure(section, name, value, unit, target, met, note)
        self.figures.append(figure)
        return figure

    def at_most(
        self, section: str, name: str, value: float | None, unit: str, limit: float, **kw: Any
    ) -> Figure:
        """A figure whose target is ``value <= limit``."""
        shown = f"<= {limit:g}{'x' if unit == 'x' else ' ' + unit}"
        met = None if value is None else value <= limit
        return self.add(section, name, value, unit, target=shown, met=met, **kw)

    def at_least(
        self, section: str, name: str, value: float | None, unit: str, limit: float, **kw: Any
    ) -> Figure:
        """A figure whose target is ``value >= limit``."""
        shown = f">= {limit:g}{'x' if unit == 'x' else ' ' + unit}"
        met = None if value is None else value >= limit
        return self.add(section, name, value, unit, target=shown, met=met, **kw)

    def check(self, section: str, name: str, ok: bool, *, shown: str, note: str = "") -> Figure:
        """A yes/no figure whose target is ``ok``."""
        figure = self.add(section, name, None, "", target="yes", met=ok, note=note)
        figure.shown = shown
        return figure

    def as_rows(self) -> list[tuple[str, str, str, str, str, str]]:
        return [
            (f.section, f.name, f.value_text(), f.target, f.verdict(), f.note) for f in self.figures
        ]

    def render_text(self) -> str:
        header = ("section", "figure", "value", "target", "", "note")
        rows = [header, *self.as_rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = []
        for n, row in enumerate(rows):
            cells = [row[i].ljust(widths[i]) for i in range(5)]
            lines.append("  ".join(cells) + ("  " + row[5] if row[5] else ""))
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(line.rstrip() for line in lines)

    def render_markdown(self) -> str:
        lines = [
            "| section | figure | value | target | | note |",
            "|---|---|---:|---|---|---|",
        ]
        for row in self.as_rows():
            cells = [cell.replace("|", "\\|") for cell in row]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"meta": self.meta, "figures": [asdict(f) for f in self.figures]}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator
