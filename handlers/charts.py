"""Charts for reports, drawn with matplotlib's object API (no pyplot, no global state) only when asked."""

from __future__ import annotations

import io
import textwrap

from bot.messages import Image

BLOCKED = "#e63946"
SKIPPED = "#f4a261"
MAX_BARS = 8


def criteria_chart(rows: list[tuple[str, int, int]], title: str) -> Image | None:
    """Horizontal bars, one per criterion: open deals where it is unconfirmed, and gates skipped on it.

    `rows` is (label, unconfirmed, skipped); the largest first. None when there is nothing to show.
    """
    rows = sorted((r for r in rows if r[1] or r[2]), key=lambda r: -(r[1] + r[2]))[:MAX_BARS]
    if not rows:
        return None
    png = _stacked_bars(
        title,
        rows,
        (BLOCKED, "open deals where unconfirmed"),
        (SKIPPED, "gates skipped"),
        bar_height=0.55,
        label_width=60,
        label_size=8,
    )
    alt = "; ".join(f"{label}: unconfirmed on {u}, skipped {s}" for label, u, s in rows)
    return Image(png, f"{title}. {alt}", "criteria-report.png")


def _stacked_bars(
    title: str,
    rows: list[tuple[str, int, int]],
    first: tuple[str, str],
    second: tuple[str, str],
    *,
    bar_height: float,
    label_width: int,
    label_size: int,
    extra_height: float = 0.0,
) -> bytes:
    """A PNG of two-part horizontal bars, one per (label, first, second) row, top to bottom in the order
    given; `first` and `second` are each (colour, legend label)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(8, 1.2 + extra_height + bar_height * len(rows)), dpi=90)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    labels = [textwrap.shorten(label, label_width, placeholder="…") for label, _, _ in rows][::-1]
    left = [a for _, a, _ in rows][::-1]
    axes.barh(labels, left, color=first[0], label=first[1])
    axes.barh(labels, [b for _, _, b in rows][::-1], left=left, color=second[0], label=second[1])
    axes.set_title(title, loc="left", fontsize=11)
    axes.tick_params(axis="y", labelsize=label_size)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(loc="upper center", bbox_to_anchor=(0.4, -0.08), ncol=2, fontsize=8, frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def bar_chart(
    rows: list[tuple[str, int]], title: str, filename: str, limit: int | None = None
) -> Image | None:
    """One horizontal bar per row (label, value), in the given order; None when there are no rows."""
    if not rows:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 1.2 + 0.5 * len(rows)), dpi=90)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    labels = [textwrap.shorten(label, 50, placeholder="…") for label, _ in rows][::-1]
    axes.barh(labels, [value for _, value in rows][::-1], color="#457b9d")
    if limit is not None:
        axes.set_xlim(0, limit)
    axes.set_title(title, loc="left", fontsize=11)
    axes.tick_params(axis="y", labelsize=9)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    alt = f"{title}: " + "; ".join(f"{label} {value}" for label, value in rows)
    return Image(buffer.getvalue(), alt, filename)


CONFIRMED = "#2a9d8f"
OUTSTANDING = "#e9c46a"


def progress_chart(rows: list[tuple[str, int, int]], title: str, filename: str) -> Image | None:
    """Stacked horizontal bars, one per rep (or team): exit criteria of their open deals' current stages
    confirmed, and still to confirm. `rows` is (label, confirmed, total), in the order to show them; None
    when no row has a criterion to show."""
    rows = [(label, max(0, confirmed), max(total, confirmed)) for label, confirmed, total in rows]
    if not any(total for _, _, total in rows):
        return None
    png = _stacked_bars(
        title,
        [(label, confirmed, total - confirmed) for label, confirmed, total in rows],
        (CONFIRMED, "exit criteria confirmed"),
        (OUTSTANDING, "still to confirm"),
        bar_height=0.5,
        extra_height=0.2,
        label_width=50,
        label_size=9,
    )
    alt = f"{title}: " + "; ".join(f"{label} {c} of {t} confirmed" for label, c, t in rows)
    recipe = {"chart": "progress", "title": title, "filename": filename, "rows": [list(r) for r in rows]}
    return Image(png, alt, filename, recipe)


def draw(recipe: dict) -> Image | None:
    """The picture a stored recipe describes (the outbox redraws a message's chart when it sends it)."""
    if recipe.get("chart") == "progress":
        rows = [(str(label), int(confirmed), int(total)) for label, confirmed, total in recipe["rows"]]
        return progress_chart(rows, str(recipe["title"]), str(recipe["filename"]))
    raise ValueError(f"no chart called {recipe.get('chart')!r}")
