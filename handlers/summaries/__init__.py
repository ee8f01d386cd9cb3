"""Where deals stand and stall: the manager's team summary and enablement's exit-criteria report.

The counting is done by the database over each criterion's current state (bot.confirmations keeps one
row per deal, stage and criterion beside the event log), so a summary never reads every event, and an
organization's summary is rolled up per team by the database rather than loaded deal by deal.

- `queries`: the counting queries (confirmed criteria, activity, skipped gates);
- `views`: the team summary and the criteria report counted from them;
- `snapshots`: what readers get (an organization's summary from the snapshot the clock keeps fresh);
- `chat`: the turns the router calls (`team summary`, `criteria report`);
- `digest`: the weekly digest the scheduler queues and the outbox composes.
"""

# The old paths the benchmarks still import.
from handlers.summaries.digest import enqueue_digests as enqueue_digests
from handlers.summaries.queries import confirmed_per_criterion_query as confirmed_per_criterion_query
from handlers.summaries.snapshots import CRITERIA_REPORT as CRITERIA_REPORT
from handlers.summaries.snapshots import TEAM_SUMMARY as TEAM_SUMMARY
from handlers.summaries.snapshots import criteria_report_data as criteria_report_data
from handlers.summaries.snapshots import refresh_snapshot as refresh_snapshot
from handlers.summaries.snapshots import team_summary_data as team_summary_data
