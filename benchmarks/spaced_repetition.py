"""Spaced repetition: FSRS vs fixed intervals vs Leitner boxes at matched retention.

An evaluation script, not a unit test: ``python -m benchmarks.spaced_repetition [--seed ...]``.

Learner model (deliberately *not* FSRS, so FSRS is not graded by its own model)
-------------------------------------------------------------------------------
Each (learner, item) pair has a latent memory stability ``S`` (days) and exponential forgetting::

    p(recall t days after the last exposure) = exp(-t / S)

* Population: item difficulty ``d ~ N(0, ITEM_SD)``, learner ability ``a ~ N(0, LEARNER_SD)`` (log scale).
* The rep reads the playbook on day -1, giving ``S0 = BASE_STABILITY * exp(a - d)``; the first quiz of
  every policy is on day 0 (recall ``exp(-1 / S0)``), so the first answer already says something.
* Every review samples the outcome from the true ``p`` at review time with a seeded ``random.Random``
  (one stream per learner and item, the same for every policy: common random numbers). The correct answer
  is shown afterwards, so the memory is refreshed (``t`` restarts at 0) whatever the outcome.
* Success: ``S <- S * (1 + GAIN * exp((a - d) / 2) * (1 - p) ** GAIN_EXPONENT)``; the lower the recall
  probability at review time, the larger the gain (spacing effect); a review at p ~ 1 barely helps.
* Failure: ``S <- max(S0, LAPSE_FACTOR * S)``; stability shrinks, but not below the first-study level.
* A correct answer is "slow" (rated Hard for FSRS) with probability ``HARD_SHARE * (1 - p)``; wrong is
  Again, otherwise Good. Only FSRS looks at Hard.

Policies
--------
* ``fsrs``: ``fsrs.Scheduler(desired_retention=R, learning_steps=(), relearning_steps=(),
  maximum_interval=120, enable_fuzzing=False)``, a new ``Card`` due on day 0, due times rounded up to
  the next simulated day (at most one quiz a day).
* ``fixed``: a review every ``k`` days (days 0, k, 2k, ...).
* ``leitner``: 5 boxes with intervals ``max(1, round(scale * 2**b))`` days (1, 2, 4, 8, 16 at scale 1);
  right moves the card up a box (it stays in the top box), wrong sends it to box 1.

Metric and search
-----------------
Mean recall is the true model ``p`` at the start of each day 1..DAYS (before that day's quiz), averaged
over days, learners and items; reviews are those on days 0..DAYS-1, per item. For each policy the script
evaluates a coarse grid of its parameter, then a fine grid between the last setting that misses the
target and the first that meets it, and keeps the cheapest evaluated setting (fewest reviews per item)
with mean recall >= TARGET.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import fsrs

TARGET = 0.90
BASE_STABILITY = 2.0  # days; median stability after first reading the playbook (~60% recall a day later)
ITEM_SD = 0.5  # spread of log item difficulty
LEARNER_SD = 0.3  # spread of log learner ability
GAIN = 4.0  # stability growth scale after a success (x2 for a success at p = 0.9)
GAIN_EXPONENT = 0.6  # growth ~ (1 - p) ** GAIN_EXPONENT
LAPSE_FACTOR = 0.5  # stability multiplier after a failed review
HARD_SHARE = 0.5  # P(Hard | correct) = HARD_SHARE * (1 - p)
LEITNER_BOXES = 5
FSRS_MAX_INTERVAL = 120
DEFAULT_RETENTION = 0.9  # handlers.quizzes.DEFAULT_RETENTION
EPOCH = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)  # day 0 of the simulation, a quiz at 09:00 UTC
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Pair:
    """One learner studying one item."""

    key: str  # seeds this pair's outcome stream
    s0: float  # stability after first reading, days
    gain: float  # growth scale after a success


@dataclass(frozen=True)
class Result:
    """Outcome of one policy at one setting."""

    policy: str
    setting: float
    mean_recall: float
    reviews_per_item: float


class CardSchedule(Protocol):
    """Per-card scheduler state: told each answer, returns the day of the next review."""

    def review(self, day: int, correct: bool, slow: bool) -> int: ...


class FixedSchedule:
    """Review every ``k`` days."""

    def __init__(self, k: float) -> None:
        self.k = max(1, round(k))

    def review(self, day: int, correct: bool, slow: bool) -> int:
        return day + self.k


class LeitnerSchedule:
    """Leitner boxes with intervals ``scale * 2**box``."""

    def __init__(self, scale: float) -> None:
        self.intervals = [max(1, round(scale * 2**b)) for b in range(LEITNER_BOXES)]
        self.box = -1  # not yet in a box: the day-0 quiz places it in box 1 or 2

    def review(self, day: int, correct: bool, slow: bool) -> int:
        self.box = min(self.box + 1, LEITNER_BOXES - 1) if correct else 0
        return day + self.intervals[self.box]


class FsrsSchedule:
    """The bot's policy: py-fsrs with no learning steps, daily quizzes."""

    def __init__(self, scheduler: fsrs.Scheduler) -> None:
        self.scheduler = scheduler
        self.card = fsrs.Card(card_id=1, due=EPOCH)  # an explicit id: Card() sleeps 1 ms to make one

    def review(self, day: int, correct: bool, slow: bool) -> int:
        rating = fsrs.Rating.Again if not correct else fsrs.Rating.Hard if slow else fsrs.Rating.Good
        self.card, _ = self.scheduler.review_card(self.card, rating, review_datetime=EPOCH + day * DAY)
        return max(day + 1, math.ceil((self.card.due - EPOCH) / DAY))


def make_factory(policy: str, setting: float) -> Callable[[], CardSchedule]:
    """A fresh per-card schedule for ``policy`` at ``setting``."""
    if policy == "fixed":
        return lambda: FixedSchedule(setting)
    if policy == "leitner":
        return lambda: LeitnerSchedule(setting)
    scheduler = fsrs.Scheduler(
        desired_retention=setting,
        learning_steps=(),
        relearning_steps=(),
        maximum_interval=FSRS_MAX_INTERVAL,
        enable_fuzzing=False,
    )
    return lambda: FsrsSchedule(scheduler)


def population(seed: int, learners: int, items: int) -> list[Pair]:
    """Draw learner abilities and item difficulties; one Pair per (learner, item)."""
    rng = random.Random(seed)
    ability = [rng.gauss(0.0, LEARNER_SD) for _ in range(learners)]
    difficulty = [rng.gauss(0.0, ITEM_SD) for _ in range(items)]
    return [
        Pair(f"{seed}:{li}:{ii}", BASE_STABILITY * math.exp(a - d), GAIN * math.exp((a - d) / 2))
        for li, a in enumerate(ability)
        for ii, d in enumerate(difficulty)
    ]


def recall_sum(stability: float, last: int, start: int, end: int) -> float:
    """Sum of exp(-(day - last) / stability) over days start..end (inclusive)."""
    if end < start:
        return 0.0
    q = math.exp(-1.0 / stability)
    n = end - start + 1
    return q ** (start - last) * (1.0 - q**n) / (1.0 - q)


def simulate(pair: Pair, schedule: CardSchedule, days: int) -> tuple[int, float]:
    """Run one card for ``days`` days; return (reviews, sum of daily recall over days 1..days)."""
    rng = random.Random(pair.key)
    s, last, day, reviews, total = pair.s0, -1, 0, 0, 0.0
    while day < days:
        total += recall_sum(s, last, max(1, last + 1), day)
        p = math.exp(-(day - last) / s)
        correct = rng.random() < p
        slow = rng.random() < HARD_SHARE * (1.0 - p)
        if correct:
            s *= 1.0 + pair.gain * (1.0 - p) ** GAIN_EXPONENT
        else:
            s = max(pair.s0, LAPSE_FACTOR * s)
        reviews += 1
        last = day
        day = schedule.review(day, correct, slow)
    total += recall_sum(s, last, max(1, last + 1), days)
    return reviews, total


def evaluate(policy: str, setting: float, pairs: Sequence[Pair], days: int) -> Result:
    """Mean daily recall and reviews per item for one policy setting over all pairs."""
    factory = make_factory(policy, setting)
    reviews, recall = 0, 0.0
    for pair in pairs:
        r, total = simulate(pair, factory(), days)
        reviews += r
        recall += total
    return Result(policy, setting, recall / (len(pairs) * days), reviews / len(pairs))


def search(
    policy: str,
    coarse: Sequence[float],
    fine_step: float,
    run: Callable[[str, Iterable[float]], list[Result]],
) -> tuple[Result | None, list[Result]]:
    """Cheapest setting meeting TARGET, and all results. ``coarse`` runs from cheapest to most reviews."""
    results = run(policy, coarse)
    first_ok = next((i for i, r in enumerate(results) if r.mean_recall >= TARGET), None)
    if first_ok is not None and first_ok > 0:
        lo, hi = coarse[first_ok - 1], coarse[first_ok]
        n = round(abs(hi - lo) / fine_step)
        step = math.copysign(fine_step, hi - lo)
        results += run(policy, [round(lo + i * step, 4) for i in range(1, n)])
    ok = [r for r in results if r.mean_recall >= TARGET]
    best = min(ok, key=lambda r: (r.reviews_per_item, -r.mean_recall)) if ok else None
    return best, results


def main(argv: Sequence[str] | None = None) -> None:
    """Parse options, run the three searches, print the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20250106)
    parser.add_argument("--learners", type=int, default=150)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    pairs = population(args.seed, args.learners, args.items)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:

        def run(policy: str, settings: Iterable[float]) -> list[Result]:
            futures = [pool.submit(evaluate, policy, s, pairs, args.days) for s in settings]
            return [f.result() for f in futures]

        searches = {
            "fsrs": search("fsrs", [0.70, 0.75, 0.80, 0.85, 0.90, 0.95, 0.97, 0.99], 0.01, run),
            "fixed": search("fixed", list(range(40, 0, -1)), 1, run),
            "leitner": search("leitner", [4.0, 3.0, 2.5, 2.0, 1.5, 1.0, 0.75, 0.5, 0.25], 0.05, run),
        }
    elapsed = time.perf_counter() - started

    labels = {
        "fsrs": ("FSRS (ours)", "desired_retention={:.2f}"),
        "fixed": ("fixed intervals", "every {:.0f} days"),
        "leitner": (f"Leitner, {LEITNER_BOXES} boxes", "scale {:.2f}"),
    }
    fsrs_best = searches["fsrs"][0]
    print(f"Reviews per item needed to keep mean recall >= {TARGET:.2f} over days 1..{args.days}\n")
    print(f"| policy | setting | mean recall over {args.days} days | reviews per item | vs FSRS |")
    print("|---|---|---:|---:|---:|")
    for policy, (best, tried) in searches.items():
        name, fmt = labels[policy]
        if best is None:
            print(f"| {name} | none of {len(tried)} settings met the target | - | - | - |")
            continue
        if policy == "leitner":
            intervals = LeitnerSchedule(best.setting).intervals
            setting = fmt.format(best.setting) + " (" + ", ".join(map(str, intervals)) + " days)"
        else:
            setting = fmt.format(best.setting)
        ratio = f"{best.reviews_per_item / fsrs_best.reviews_per_item:.2f}x" if fsrs_best else "-"
        print(f"| {name} | {setting} | {best.mean_recall:.3f} | {best.reviews_per_item:.2f} | {ratio} |")
    default = next((r for r in searches["fsrs"][1] if r.setting == DEFAULT_RETENTION), None)
    if default is not None:
        print(
            f"\nFSRS at the bot's default desired_retention={DEFAULT_RETENTION}: mean recall "
            f"{default.mean_recall:.3f}, {default.reviews_per_item:.2f} reviews per item."
        )
    tried = ", ".join(f"{p} {len(r)}" for p, (_, r) in searches.items())
    print(f"Settings evaluated: {tried}.")
    print(
        f"Machine: Python {platform.python_version()}, {platform.platform()}, {os.cpu_count()} CPUs; "
        f"fsrs {_fsrs_version()}; run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {elapsed:.1f} s "
        f"({args.jobs} workers)."
    )
    print(
        f"Seed {args.seed}; {args.learners} learners x {args.items} items; {args.days} days; "
        f"target {TARGET}; model: base stability {BASE_STABILITY} d, item sd {ITEM_SD}, "
        f"learner sd {LEARNER_SD}, gain {GAIN}, gain exponent {GAIN_EXPONENT}, lapse factor {LAPSE_FACTOR}, "
        f"Hard share {HARD_SHARE}; FSRS maximum_interval {FSRS_MAX_INTERVAL}."
    )


def _fsrs_version() -> str:
    from importlib.metadata import version

    return version("fsrs")


if __name__ == "__main__":
    sys.exit(main())
