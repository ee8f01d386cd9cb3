"""Coaching cadence: who reports to whom, who is due for coaching and on what, logging it, reports.

The weekly nudge tells a manager which reps are due (by the team's cadence: weekly, biweekly, monthly)
and suggests a focus per rep from the data the bot holds, ROAM style: a deal moved on with exit
criteria unconfirmed (Methodology), a deal with no criteria progress (Activity), the criterion most
often open on the rep's deals (Results vs objectives), or an empty pipeline; with coaching questions
from the playbook stage concerned.

- `queries`: the domain reads (who is due, the focus, finding a person, parsing a day or an area);
- `chat`: the turns the router calls (rosters, who to coach now, pause, cadence, logging, takeaways);
- `nudges`: the proactive nudge and follow-up the scheduler queues and the outbox composes;
- `reports`: `my coaching` and `coaching report`.
"""

