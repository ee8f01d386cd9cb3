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
