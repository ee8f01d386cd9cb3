"""Which question to ask next when a rep gets only a couple a day: budget-aware selection with FSRS.

FSRS (the `fsrs` package) stays the memory model: each card's stability and difficulty are updated by
`Scheduler.review_card` on every answer. What changes is the choice of the next question. A due date is
what a scheduler with unlimited reviews would do; a rep answers at most N questions per working day, so the
queue instead asks the question whose review now is expected to add the most recall over the coming weeks:

    gain(card) = R * I(S_right) + (1 - R) * I(S_wrong) - I_without_review

where R is the card's retrievability now, S_right / S_wrong the stabilities FSRS would give after a right
or wrong answer now, and I(S) the area under the FSRS forgetting curve over the horizon (recall-days).
Every review costs the same (one question), so the largest gain is the largest gain per review.

A question never asked has no memory yet (its area without review is 0), so its gain is that of a first
answer; it competes with reviews on the same scale. That introduces new questions while reviews are
cheap wins and slows down once old cards start slipping: neither overdue reviews nor new questions starve.

The budget holds only so many questions (`held`): each costs the reviews a day it needs to stay at the
rep's calibrated retention, most durable first. Questions beyond what it holds are set aside until the
ones it holds consolidate, rather than each reviewed too rarely to stick. How many it holds depends on
how much of FSRS's predicted recall the rep really shows (`calibration`); a rep with few answers of their
own is taken to be like their workspace's other reps (their recent answers), so a new rep gets new
questions at the pace their colleagues sustain until their own answers say otherwise.

The horizon is the time the budget needs to come back to a card: (questions / per day) working days, in
calendar days (7/5), kept between one week and the FSRS maximum interval.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from fsrs import Card, Rating, Scheduler

MIN_HORIZON_DAYS = 7.0
FIRST_ANSWER_PRIOR = 0.5  # chance a rep answers a question right the first time it is asked
MIN_GAP = timedelta(hours=20)  # never ask a question again the same day it was answered
SUSTAIN_RETENTION = 0.5  # recall the budget must be able to hold every introduced question at
NEW_AT_LEAST_EVERY = timedelta(days=10)  # however much is slipping, a new question at least every 10 days
MAX_TARGET = 0.97  # the highest FSRS retention the load is worked out for
CALIBRATION_PRIOR = 0.7  # share of FSRS's predicted recall assumed before a workspace has answers
WORKSPACE_PRIOR_WEIGHT = 10.0  # reviews CALIBRATION_PRIOR is worth against the workspace's answers
CALIBRATION_WEIGHT = 20.0  # reviews the workspace's calibration is worth against the rep's own


def horizon_days(questions: int, per_day: int, working_days: int, maximum_interval: int) -> float:
    """Calendar days the daily budget needs to go round the rep's whole set once."""
    per_week = max(1, per_day) * max(1, working_days)
    days = 7.0 * max(1, questions) / per_week
    return min(max(days, MIN_HORIZON_DAYS), float(maximum_interval))


def _curve(scheduler: Scheduler) -> tuple[float, float]:
    decay = -scheduler.parameters[20]
    return decay, 0.9 ** (1 / decay) - 1


def area(scheduler: Scheduler, stability: float, start: float, end: float) -> float:
    """Integral of FSRS retrievability (1 + F t / S) ** D for t in [start, end] days: recall-days."""
    decay, factor = _curve(scheduler)

    def antiderivative(t: float) -> float:
        return stability / (factor * (decay + 1)) * (1 + factor * t / stability) ** (decay + 1)

    return antiderivative(end) - antiderivative(start)


def retrievability(scheduler: Scheduler, card: Card, now: datetime) -> float:
    """FSRS's recall probability now, with fractional days (the package rounds down to whole days)."""
    if card.last_review is None or card.stability is None:
        return 0.0
    decay, factor = _curve(scheduler)
    elapsed = max(0.0, (now - card.last_review).total_seconds() / 86400)
    return (1 + factor * elapsed / card.stability) ** decay


def _stability_after(scheduler: Scheduler, card: Card, rating: Rating, now: datetime) -> float:
    reviewed, _ = scheduler.review_card(Card.from_dict(card.to_dict()), rating, review_datetime=now)
    return float(reviewed.stability or 0.0)


def gain(scheduler: Scheduler, card: Card | None, now: datetime, horizon: float) -> float:
    """Expected recall-days over `horizon` that asking this card now adds (None: a question never asked)."""
    if card is None or card.last_review is None or card.stability is None:
        fresh = Card(card_id=1, due=now)
        right = _stability_after(scheduler, fresh, Rating.Good, now)
        wrong = _stability_after(scheduler, fresh, Rating.Again, now)
        return FIRST_ANSWER_PRIOR * area(scheduler, right, 0, horizon) + (1 - FIRST_ANSWER_PRIOR) * area(
            scheduler, wrong, 0, horizon
        )
    if now - card.last_review < MIN_GAP:
        return 0.0
    r = retrievability(scheduler, card, now)
    elapsed = (now - card.last_review).total_seconds() / 86400
    without = area(scheduler, card.stability, elapsed, elapsed + horizon)
    right = _stability_after(scheduler, card, Rating.Good, now)
    wrong = _stability_after(scheduler, card, Rating.Again, now)
    return r * area(scheduler, right, 0, horizon) + (1 - r) * area(scheduler, wrong, 0, horizon) - without


def interval(scheduler: Scheduler, stability: float, retention: float = SUSTAIN_RETENTION) -> float:
    """Days until FSRS's recall falls to `retention` (unrounded), at least one."""
    decay, factor = _curve(scheduler)
    days = stability / factor * (retention ** (1 / decay) - 1)
    return min(max(days, 1.0), float(scheduler.maximum_interval))


def load(scheduler: Scheduler, cards: Iterable[Card], retention: float = SUSTAIN_RETENTION) -> float:
    """Reviews per day the rep's cards need to stay at `retention`."""
    return sum(1 / interval(scheduler, c.stability, retention) for c in cards if c.stability)


def held(
    scheduler: Scheduler, cards: list[tuple[object, Card]], target: float, capacity: float
) -> list[tuple[object, Card]]:
    """The cards the budget can keep at FSRS retention `target`, most durable (highest stability) first:
    each costs 1 / interval reviews a day, and cards are added while their cost fits in `capacity` (the
    most durable one always). The others are set aside, not asked, until consolidation frees room: a budget
    spread over more questions than it can hold keeps none of them, so what cannot be held is let go for a
    while rather than reviewed too rarely to stick. Cards never answered cost nothing."""
    kept: list[tuple[object, Card]] = []
    spent = 0.0
    for key, card in sorted(cards, key=lambda kc: -(kc[1].stability or 0.0)):
        cost = 1 / interval(scheduler, card.stability, target) if card.stability else 0.0
        if kept and spent + cost > capacity:
            continue
        spent += cost
        kept.append((key, card))
    return kept


@dataclass(frozen=True)
class Choice:
    key: object  # whatever the caller identifies the card by (a ReviewCard id, a question id)
    gain: float
    new: bool


def best(
    scheduler: Scheduler,
    cards: Iterable[tuple[object, Card]],
    new_keys: Iterable[object],
    now: datetime,
    horizon: float,
    capacity: float = math.inf,
    retention: float = SUSTAIN_RETENTION,
    last_new: datetime | None = None,
    calibration: float = 1.0,
) -> Choice | None:
    """The card with the largest expected gain now, or a new question when the budget can sustain one more.

    `capacity` is the budget in reviews per calendar day: a new question is only introduced while the
    reviews the rep's cards already need to stay at `retention` (`load`) plus the new one's fit in it, so a rep who keeps forgetting
    consolidates what they have before getting more, and one who remembers gets new material sooner.
    `calibration` (see `calibration`) is how much of what FSRS predicts the rep really recalls: a rep who
    forgets faster than FSRS's default parameters assume needs shorter intervals, so more reviews per question.
    So that new material never starves, a new question also comes when none was introduced for
    NEW_AT_LEAST_EVERY (`last_new`: when the newest was). All never-asked questions have the same gain, so
    one stands for all (the first of `new_keys`). Reviews are chosen among the cards the budget holds
    (`held`). None when nothing gains anything.
    """
    cards = list(cards)
    first_new = next(iter(new_keys), None)
    fresh = scheduler._initial_stability(rating=Rating.Good)  # noqa: SLF001
    # the rep really recalls about `calibration` times what FSRS predicts: to hold them at `retention`,
    # FSRS's own estimate must stay at retention / calibration
    target = min(MAX_TARGET, retention / calibration)
    needed = load(scheduler, (c for _, c in cards), target) + 1 / interval(scheduler, fresh, target)
    cards = held(scheduler, cards, target, capacity)
    options = [Choice(key, gain(scheduler, card, now, horizon), False) for key, card in cards]
    sustainable = needed <= capacity
    overdue_new = last_new is None or now - last_new >= NEW_AT_LEAST_EVERY
    if first_new is not None and (sustainable or overdue_new or not any(o.gain > 0 for o in options)):
        options.append(Choice(first_new, gain(scheduler, None, now, horizon), True))
    options = [o for o in options if o.gain > 0 and math.isfinite(o.gain)]
    return max(options, key=lambda o: o.gain) if options else None


def calibration(
    right: int, predicted: float, workspace_right: int = 0, workspace_predicted: float = 0.0
) -> float:
    """The rep's recall relative to FSRS's prediction over their recent reviews, between 0.1 and 1.

    With FSRS's default parameters a rep who forgets faster than the average learner would be scheduled
    as if they remembered; this scales the review load. A rep's own answers are few in their first weeks,
    when the pace of new questions is decided, so they are weighed against their workspace's (empirical
    Bayes): the recent answers of everyone in it (`workspace_right` of `workspace_predicted` predicted),
    which themselves start from CALIBRATION_PRIOR (worth WORKSPACE_PRIOR_WEIGHT reviews). The workspace's
    ratio is worth CALIBRATION_WEIGHT of the rep's own reviews: a rep whose colleagues forget faster or
    slower than FSRS assumes is scheduled like them until their own answers say otherwise. What is
    introduced too fast is set aside again by `held`."""
    prior = (workspace_right + CALIBRATION_PRIOR * WORKSPACE_PRIOR_WEIGHT) / (
        workspace_predicted + WORKSPACE_PRIOR_WEIGHT
    )
    ratio = (right + prior * CALIBRATION_WEIGHT) / (predicted + CALIBRATION_WEIGHT)
    return min(1.0, max(0.1, ratio))
