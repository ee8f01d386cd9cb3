"""Benchmark figures and the table they print: each figure beside its baseline, the ratio and the target."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """What a figure should reach: `at_most` / `at_least` an absolute value, or a ratio to its baseline."""

    at_most: float | None = None
    at_least: float | None = None
    ratio_at_least: float | None = None
    ratio_at_most: float | None = None

    def met(self, value: float, baseline: float | None) -> bool:
        ratio = value / baseline if baseline else None
        checks = [
            self.at_most is None or value <= self.at_most,
            self.at_least is None or value >= self.at_least,
            self.ratio_at_least is None or (ratio is not None and ratio >= self.ratio_at_least),
            self.ratio_at_most is None or (ratio is not None and ratio <= self.ratio_at_most),
        ]
        return all(checks)

    def describe(self, unit: str) -> str:
        parts = []
        if self.at_most is not None:
            parts.append(f"≤ {_number(self.at_most)} {unit}".strip())
        if self.at_least is not None:
            parts.append(f"≥ {_number(self.at_least)} {unit}".strip())
        if self.ratio_at_least is not None:
            parts.append(f"≥ {_number(self.ratio_at_least)}× baseline")
        if self.ratio_at_most is not None:
            parts.append(f"≤ {_number(self.ratio_at_most)}× baseline")
        return ", ".join(parts) or "(reported)"


NO_TARGET = Target()


@dataclass(frozen=True)
class Figure:
    """One measured number, e.g. ("Slack /playbook ack", "p99", 6.1, "ms")."""

    group: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: Target = NO_TARGET

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    @property
    def met(self) -> bool | None:
        if self.target == NO_TARGET:
            return None
        return self.target.met(self.value, self.baseline)


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def table(figures: list[Figure]) -> str:
    """A Markdown table (readable in a terminal, and pasted as is into BENCHMARKS.md)."""
    lines = [
        "| group | figure | value | baseline | ratio | target | met |",
        "|---|---|---:|---:|---:|---|:-:|",
    ]
    for f in figures:
        baseline = f"{_number(f.baseline)} {f.unit} ({f.baseline_name})".strip() if f.baseline else "—"
        ratio = f"{f.ratio:.2f}×" if f.ratio is not None else "—"
        met = {True: "yes", False: "**no**", None: "—"}[f.met]
        lines.append(
            f"| {f.group} | {f.name} | {_number(f.value)} {f.unit} | {baseline} | {ratio} | "
            f"{f.target.describe(f.unit)} | {met} |"
        )
    return "\n".join(lines)
