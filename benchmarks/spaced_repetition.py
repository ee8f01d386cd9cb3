"""Knowledge checks under the real daily cap: the bot's own queue vs Leitner, SM-2, fixed intervals.

An evaluation script, not a unit test: ``python -m benchmarks.spaced_repetition [--seeds 3] [--reps 4]``;
``--first-seed 4`` runs held-out seeds 4..6, ``--bot-only`` skips the baselines.

How the bot is driven
---------------------
The bot runs for real: a SQLite database in a temporary folder with the schema, one organization, the
26 bundled starter questions (``playbooks/quizzes/starter.yaml``) and ``--reps`` simulated reps. Every
working day (Monday to Friday) at 09:30 each rep's daily question is written by
``handlers.quizzes.daily.compose_knowledge_check`` (what the outbox drainer calls when it sends it); the rep
answers by clicking a button through ``bot.router.handle`` (the same entry point Slack, Teams and the
terminal use), and clicks "Next question" while the bot offers it (it stops at the cap, 2 a day). On a
missed day (probability ``MISSED_DAY``) the rep does not open the chat: the question waits, and the bot
asks it again the next working day. The rep opens the chat between 09:30 and 13:30.

Baselines run the same day structure in plain Python, with the queue the bot used before (its one waiting
question first, then the most overdue due card, else a new question in file order; "Next question" while
something is due or new and the cap allows): ``leitner`` (5 boxes, intervals ``scale * 2**box`` days),
``sm2`` (SuperMemo 2 with quality 4 for right, 1 for wrong; intervals times ``scale``), ``fixed`` (every
``k`` days) and ``fsrs-due`` (FSRS due dates in due order, the bot's previous policy). Each is tuned: its
parameter is searched on a grid and the best mean recall (on the same seeds, so in-sample: a favour to
the baselines) is reported. The bot runs its defaults, one setting for both models.

Forgetting models (the truth the learner follows; neither is FSRS)
------------------------------------------------------------------
Each (rep, question) pair has an offset ``beta = ability - difficulty`` with ability ~ N(0, 0.3) and
difficulty ~ N(0, 0.5). The rep reads the playbook on day -1 (one study event for every question). After
every answer the right answer is shown, so every question asked is also a study event.

* ``exponential``: ``p = exp(-t / S)``; ``S0 = 2 d * exp(beta)``; a right answer multiplies ``S`` by
  ``1 + 4 exp(beta / 2) (1 - p) ** 0.6`` (spacing effect: the lower the recall at review, the larger the
  gain), a wrong one gives ``max(S0, S / 2)``.
* ``actr``: ACT-R's declarative memory with the spacing rule of Pavlik and Anderson (2005): activation
  ``m(t) = ln sum_j (h (t - t_j)) ** -d_j`` with ``d_j = c exp(m(t_j)) + a`` (massed study decays faster),
  ``p = 1 / (1 + exp((tau - beta - m) / s))``; c = 0.217, a = 0.177, s = 0.255, h = 0.025 (time between
  sessions is psychologically compressed; t in seconds), tau = -1.5 (about 60% recall a day after reading).

Outcomes come from seeded streams keyed by (seed, rep, question, attempt number), missed days and opening
times by (seed, rep, day): every policy sees the same random numbers (common random numbers).

Metric: mean true recall probability at the start of each day 1..DAYS over all reps and questions (a
question never asked decays from the playbook reading), and reviews (answers) per question per rep.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import fsrs

DAYS = 180
CAP = 2  # handlers.quizzes.queue.DEFAULT_PER_DAY
MISSED_DAY = 0.15
QUIZ_HOUR = 9.5
OPEN_WITHIN_HOURS = 4.0
EPOCH = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday, 00:00 UTC: day 0
ABILITY_SD, DIFFICULTY_SD = 0.3, 0.5


# -- the learner --------------------------------------------------------------------------------------


class Memory:
    """The true memory of one rep for one question; times in days since EPOCH."""

    def recall(self, t: float) -> float:
        raise NotImplementedError

    def study(self, t: float, correct: bool) -> None:
        raise NotImplementedError


class Exponential(Memory):
    def __init__(self, beta: float) -> None:
        self.s0 = 2.0 * math.exp(beta)
        self.gain = 4.0 * math.exp(beta / 2)
        self.s, self.last = self.s0, -1.0 + QUIZ_HOUR / 24

    def recall(self, t: float) -> float:
        return math.exp(-max(0.0, t - self.last) / self.s)

    def study(self, t: float, correct: bool) -> None:
        p = self.recall(t)
        self.s = self.s * (1 + self.gain * (1 - p) ** 0.6) if correct else max(self.s0, self.s / 2)
        self.last = t


class ActR(Memory):
    C, A, S, H, TAU = 0.217, 0.177, 0.255, 0.025, -1.5

    def __init__(self, beta: float) -> None:
        self.beta = beta
        self.traces: list[tuple[float, float]] = []  # (time, decay)
        self.study(-1.0 + QUIZ_HOUR / 24, True)

    def activation(self, t: float) -> float:
        total = sum(max(self.H * (t - tj) * 86400, 1.0) ** -d for tj, d in self.traces)
        return math.log(total) if total > 0 else -math.inf

    def recall(self, t: float) -> float:
        m = self.activation(t)
        if m == -math.inf:
            return 0.0
        return 1 / (1 + math.exp((self.TAU - self.beta - m) / self.S))

    def study(self, t: float, correct: bool) -> None:
        m = self.activation(t)
        decay = self.C * math.exp(m) + self.A if m != -math.inf else self.A
        self.traces.append((t, decay))


MODELS: dict[str, Callable[[float], Memory]] = {"exponential": Exponential, "actr": ActR}


@dataclass
class Learner:
    """One simulated rep: memories per question, and their seeded random streams."""

    seed: int
    index: int
    memories: list[Memory]
    attempts: list[int] = field(default_factory=list)

    def outcome(self, item: int, t: float) -> bool:
        self.attempts[item] += 1
        draw = random.Random(f"{self.seed}:{self.index}:{item}:{self.attempts[item]}").random()
        return draw < self.memories[item].recall(t)

    def day(self, day: int) -> tuple[bool, float]:
        """(misses the day?, hour the rep opens the chat)"""
        rng = random.Random(f"{self.seed}:{self.index}:day:{day}")
        return rng.random() < MISSED_DAY, QUIZ_HOUR + rng.random() * OPEN_WITHIN_HOURS


def learners(model: str, seed: int, reps: int, items: int) -> list[Learner]:
    rng = random.Random(f"population:{seed}")
    difficulty = [rng.gauss(0, DIFFICULTY_SD) for _ in range(items)]
    out = []
    for r in range(reps):
        ability = rng.gauss(0, ABILITY_SD)
        memories = [MODELS[model](ability - d) for d in difficulty]
        out.append(Learner(seed, r, memories, [0] * items))
    return out


def mean_recall_today(people: Sequence[Learner], day: int) -> float:
    return sum(m.recall(float(day)) for p in people for m in p.memories)


# -- the bot, driven through its real queue and answer handler -------------------------------------------


def run_bot(model: str, seed: int, reps: int, days: int) -> tuple[float, float]:
    """(mean recall, reviews per question) of the bot's own scheduling."""
    from sqlalchemy import select

    from bot.context import AppContext
    from bot.demo import STARTER_QUIZZES
    from bot.messages import Click, Request
    from bot.quizfile import import_quizzes
    from bot.rendering import Renderer
    from bot.router import handle
    from bot.settings import Settings
    from handlers.quizzes.daily import compose_knowledge_check
    from playbooks.loader import load_library
    from storage import db as botdb
    from storage.models import Base, Person, QuizQuestion, ReviewCard, Role
    from storage.people import LOCAL_WORKSPACE, get_or_create_workspace

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        engine = botdb.make_engine(url)
        Base.metadata.create_all(engine)
        now = [EPOCH]
        settings = Settings(database_url=url)
        ctx = AppContext(
            settings,
            engine,
            botdb.make_sessionmaker(engine),
            load_library(settings.playbooks_dir),
            Renderer(),
            clock=lambda: now[0],
        )
        with ctx.sessions.begin() as session:
            way_in = get_or_create_workspace(session, *LOCAL_WORKSPACE, name="Benchmark")
            import_quizzes(session, way_in.organization_id, STARTER_QUIZZES, ctx.playbooks)
            questions = list(session.scalars(select(QuizQuestion).order_by(QuizQuestion.id)))
            item_of = {q.id: i for i, q in enumerate(questions)}
            answer_of = {q.id: (q.answer, len(q.choices)) for q in questions}
            people = []
            for r in range(reps):
                person = Person(
                    organization_id=way_in.organization_id,
                    email=f"rep{r}@example.com",
                    name=f"Rep {r}",
                    role=Role.REP,
                )
                session.add(person)
                session.flush()
                people.append(person.id)
            workspace_id = way_in.id
        population = learners(model, seed, reps, len(questions))
        question_of_card: dict[int, int] = {}
        reviews, recall = 0, 0.0
        for day in range(days):
            if day:
                recall += mean_recall_today(population, day)
            if (EPOCH + timedelta(days=day)).weekday() >= 5:
                continue
            for learner, person_id in zip(population, people, strict=True):
                now[0] = EPOCH + timedelta(days=day, hours=QUIZ_HOUR)
                with ctx.sessions.begin() as session:
                    reply = compose_knowledge_check(ctx, session, session.get(Person, person_id), now[0])
                missed, hour = learner.day(day)
                if reply is None or missed:
                    continue
                t = day + hour / 24
                for _ in range(CAP):
                    buttons = [b for b in reply.buttons if b.action == "quiz.answer"]
                    if not buttons:
                        break
                    card_id = int(buttons[0].value.split(":")[0])
                    if card_id not in question_of_card:
                        with ctx.sessions() as session:
                            question_of_card[card_id] = session.scalar(
                                select(ReviewCard.question_id).where(ReviewCard.id == card_id)
                            )
                    question_id = question_of_card[card_id]
                    item = item_of[question_id]
                    right, choices = answer_of[question_id]
                    correct = learner.outcome(item, t)
                    chosen = right if correct else (right + 1) % choices
                    now[0] = EPOCH + timedelta(days=t)
                    reply = handle(
                        ctx,
                        Request(workspace_id, person_id, click=Click("quiz.answer", buttons[chosen].value)),
                    )
                    learner.memories[item].study(t, correct)
                    reviews += 1
                    if not any(b.action == "quiz.next" for b in reply.buttons):
                        break
                    t += 1 / 1440
                    now[0] = EPOCH + timedelta(days=t)
                    reply = handle(ctx, Request(workspace_id, person_id, click=Click("quiz.next", "")))
        recall += mean_recall_today(population, days)
        engine.dispose()
    pairs = reps * len(questions)
    return recall / (pairs * days), reviews / pairs


# -- baselines, on the queue the bot used before ---------------------------------------------------------


class Fixed:
    def __init__(self, k: float) -> None:
        self.k = k

    def review(self, t: float, correct: bool) -> float:
        return t + self.k


class Leitner:
    def __init__(self, scale: float) -> None:
        self.intervals = [max(1.0, round(scale * 2**b)) for b in range(5)]
        self.box = -1

    def review(self, t: float, correct: bool) -> float:
        self.box = min(self.box + 1, 4) if correct else 0
        return t + self.intervals[self.box]


class Sm2:
    def __init__(self, scale: float) -> None:
        self.scale, self.ef, self.n, self.interval = scale, 2.5, 0, 0.0

    def review(self, t: float, correct: bool) -> float:
        q = 4 if correct else 1
        if q >= 3:
            self.interval = 1.0 if self.n == 0 else 6.0 if self.n == 1 else self.interval * self.ef
            self.n += 1
        else:
            self.n, self.interval = 0, 1.0
        self.ef = max(1.3, self.ef + 0.1 - (5 - q) * (0.08 + (5 - q) * 0.02))
        return t + max(1.0, self.interval * self.scale)


class FsrsDue:
    def __init__(self, retention: float) -> None:
        self.scheduler = fsrs.Scheduler(
            desired_retention=retention,
            learning_steps=(),
            relearning_steps=(),
            maximum_interval=120,
            enable_fuzzing=False,
        )
        self.card = fsrs.Card(card_id=1, due=EPOCH)

    def review(self, t: float, correct: bool) -> float:
        rating = fsrs.Rating.Good if correct else fsrs.Rating.Again
        self.card, _ = self.scheduler.review_card(
            self.card, rating, review_datetime=EPOCH + timedelta(days=t)
        )
        return (self.card.due - EPOCH) / timedelta(days=1)


BASELINES: dict[str, tuple[Callable[[float], object], list[float], str]] = {
    "leitner": (
        Leitner,
        [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0],
        "scale {:g}",
    ),
    "sm2": (Sm2, [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0], "interval scale {:g}"),
    "fixed": (Fixed, [2, 3, 4, 5, 7, 10, 12, 14, 16, 18, 20, 22, 25, 28, 35, 45, 60], "every {:g} days"),
    "fsrs-due": (FsrsDue, [0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95], "desired_retention {:g}"),
}


def run_baseline(
    policy: str, setting: float, model: str, seed: int, reps: int, items: int, days: int
) -> tuple[float, float]:
    factory = BASELINES[policy][0]
    population = learners(model, seed, reps, items)
    reviews, recall = 0, 0.0
    schedules: list[list[object | None]] = [[None] * items for _ in range(reps)]
    due = [[math.inf] * items for _ in range(reps)]
    pending: list[int | None] = [None] * reps

    def pick(r: int, t: float) -> int | None:
        if pending[r] is not None:
            return pending[r]
        waiting = [(due[r][i], i) for i in range(items) if schedules[r][i] is not None and due[r][i] <= t]
        if waiting:
            return min(waiting)[1]
        return next((i for i in range(items) if schedules[r][i] is None), None)

    for day in range(days):
        if day:
            recall += mean_recall_today(population, day)
        if (EPOCH + timedelta(days=day)).weekday() >= 5:
            continue
        for r, learner in enumerate(population):
            item = pick(r, day + QUIZ_HOUR / 24)
            if item is None:
                continue
            pending[r] = item
            missed, hour = learner.day(day)
            if missed:
                continue
            t = day + hour / 24
            answered = 0
            while item is not None:
                correct = learner.outcome(item, t)
                learner.memories[item].study(t, correct)
                reviews += 1
                answered += 1
                if schedules[r][item] is None:
                    schedules[r][item] = factory(setting)
                due[r][item] = schedules[r][item].review(t, correct)  # type: ignore[union-attr]
                pending[r] = None
                if answered >= CAP:
                    break
                t += 1 / 1440
                item = pick(r, t)
    recall += mean_recall_today(population, days)
    pairs = reps * items
    return recall / (pairs * days), reviews / pairs


# -- the report -----------------------------------------------------------------------------------------


def _summary(values: Sequence[tuple[float, float]]) -> tuple[float, float, float]:
    recalls = [v[0] for v in values]
    spread = statistics.stdev(recalls) if len(recalls) > 1 else 0.0
    return statistics.mean(recalls), spread, statistics.mean(v[1] for v in values)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="how many seeds")
    parser.add_argument("--first-seed", type=int, default=1, help="seeds FIRST..FIRST+N-1 (held-out: 4)")
    parser.add_argument("--bot-only", action="store_true", help="skip the baselines (while iterating)")
    parser.add_argument("--reps", type=int, default=4, help="simulated reps per seed")
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--models", default="exponential,actr")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    items = 26
    for model in args.models.split(","):
        bot_started = time.perf_counter()
        bot = [run_bot(model, seed, args.reps, args.days) for seed in seeds]
        bot_seconds = time.perf_counter() - bot_started
        rows = [("the bot (budget-aware FSRS, real handlers)", "defaults", _summary(bot), bot)]
        for policy, (_, grid, label) in ({} if args.bot_only else BASELINES).items():
            tried = {
                setting: [
                    run_baseline(policy, setting, model, seed, args.reps, items, args.days) for seed in seeds
                ]
                for setting in grid
            }
            setting, values = max(tried.items(), key=lambda kv: _summary(kv[1])[0])
            rows.append(
                (
                    f"{policy} (tuned over {len(grid)} settings)",
                    label.format(setting),
                    _summary(values),
                    values,
                )
            )
        ours = rows[0][2][0]
        print(f"\n### Forgetting model: {model}\n")
        print(
            f"| policy | setting | mean recall over {args.days} days (± sd over seeds) | reviews per question | per seed | bot minus policy |"
        )
        print("|---|---|---:|---:|---|---:|")
        for name, setting, (mean, spread, per_item), values in rows:
            per_seed = ", ".join(f"{v[0]:.3f}" for v in values)
            delta = "" if name.startswith("the bot") else f"{ours - mean:+.3f}"
            print(
                f"| {name} | {setting} | {mean:.3f} ± {spread:.3f} | {per_item:.1f} | {per_seed} | {delta} |"
            )
        print(
            f"\nThe bot's runs took {bot_seconds:.1f} s ({args.reps} reps x {args.seeds} seeds x {args.days} days)."
        )
    print(
        f"\nSeeds {list(seeds)}; {args.reps} reps per seed; {items} questions; cap {CAP} a working day (Mon-Fri); "
        f"missed days {MISSED_DAY:.0%}; Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs; fsrs {_fsrs_version()}; run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{time.perf_counter() - started:.0f} s in all."
    )


def _fsrs_version() -> str:
    from importlib.metadata import version

    return version("fsrs")


if __name__ == "__main__":
    sys.exit(main())
