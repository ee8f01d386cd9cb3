"""Quiz questions tied to the playbook section they test, and what happens when that section changes.

A quiz item may name the section it tests (`tests:` in a quiz file, see README "Knowledge checks"): a
stage, and within it an exit criterion by id, an objection (by its wording), a talk track (by its title),
or one of the stage's section kinds (`tasks`, `objectives`, ...). The reference is stored in its canonical
form, `PLAYBOOK/STAGE[/PART]`, e.g. `enterprise/evaluation/exit_criterion:fit-validated`.

With the question the bot keeps the fingerprint (a hash of the section's text, whitespace folded) it was
written or last reviewed against, and the fingerprint it last saw. `refresh` compares them with the
playbooks the process loaded: a section whose text changed flags its questions for enablement's review
and resets the review cards of the reps who had learned the old version (their latest answer was right),
so the budget-aware queue asks them again as soon as it can. A section that disappeared (removed, or its
stage or id renamed) flags its questions too. Enablement clears a flag by marking the question reviewed,
or by re-importing its quiz file with the question updated.

- `sections`: a reference, a section's words and fingerprint;
- `resolving`: reading a `tests:` value and finding its section (with the nearest name when it is wrong);
- `changes`: flagging changed or vanished sections, re-asking, marking reviewed.

The names below are the package's interface to the quiz capability and the quiz file import.
"""

from bot.quizlinks.changes import PlaybooksDiffer as PlaybooksDiffer
from bot.quizlinks.changes import mark_reviewed as mark_reviewed
from bot.quizlinks.changes import refresh as refresh
from bot.quizlinks.resolving import LinkError as LinkError
from bot.quizlinks.resolving import nearest as nearest
from bot.quizlinks.resolving import resolve as resolve
from bot.quizlinks.resolving import resolve_value as resolve_value
from bot.quizlinks.sections import Section as Section
from bot.quizlinks.sections import SectionRef as SectionRef
