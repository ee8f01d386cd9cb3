"""The project's one "did you mean" matcher: the names in a list closest to what someone typed.

Every suggestion for a misspelt name (a playbook key, a stage or criterion id, a quiz reference, a day, a
country, a command) comes from here, so "close enough" means the same everywhere: rapidfuzz's weighted
ratio (0-100) of the two texts lower-cased with punctuation and dashes as spaces, except that a name much
shorter than what was typed is compared whole when it is one word (a country code "ge" is not near
"germny" for being in it, while "thur" is near "thursday"; "Alex Garcia Lopez" still finds Alex Garcia),
and a single letter is near nothing. It lives on the ground
floor (it imports nothing of the project) so the playbooks, the frame and the capabilities can all use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from rapidfuzz import fuzz, process, utils

SUGGEST_FROM = 60  # score from which a name is offered as "did you mean"

K = TypeVar("K")


def plain(text: str, **_: object) -> str:
    """Lower-case words, punctuation and dashes as spaces ("Exit-Criteria!" -> "exit criteria")."""
    return utils.default_process(text)


def _closeness(typed: str, name: str, **kwargs: object) -> float:
    if len(typed) < 2:
        return 0.0  # one letter is no name to correct
    if " " not in name and len(name) * 1.5 < len(typed):
        return fuzz.ratio(typed, name)  # a short word is compared whole, not found inside longer text
    return fuzz.WRatio(typed, name)


def score(wanted: str, *names: str, processor: Callable[..., str] = plain) -> float:
    """How close `wanted` is to the closest of `names` (0-100)."""
    typed = processor(wanted)
    return max((_closeness(typed, processor(n)) for n in names), default=0.0)


def ranked(
    wanted: str,
    names: Mapping[K, str],
    *,
    cutoff: float = SUGGEST_FROM,
    limit: int | None = None,
    processor: Callable[..., str] = plain,
) -> list[tuple[K, float]]:
    """The keys of `names` whose name scores at least `cutoff`, closest first (ties in the mapping's order)."""
    found = process.extract(
        wanted, names, scorer=_closeness, processor=processor, score_cutoff=cutoff, limit=None
    )
    order = {key: i for i, key in enumerate(names)}
    found.sort(key=lambda hit: (-hit[1], order[hit[2]]))
    return [(key, points) for _, points, key in found[:limit]]


def nearest_few(wanted: str, names: Iterable[str], n: int = 3, *, cutoff: float = SUGGEST_FROM) -> list[str]:
    """Up to `n` names closest to `wanted`, closest first."""
    unique = list(dict.fromkeys(names))
    return [unique[i] for i, _ in ranked(wanted, dict(enumerate(unique)), cutoff=cutoff, limit=n)]


def nearest(wanted: str, names: Iterable[str], *, cutoff: float = SUGGEST_FROM) -> str | None:
    """The name closest to `wanted`, or None when none is close enough."""
    near = nearest_few(wanted, names, 1, cutoff=cutoff)
    return near[0] if near else None
