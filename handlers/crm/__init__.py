"""CRM sync: Salesforce and HubSpot deals into the bot, and a stage change in the CRM into the chat loop.

- `mapping`: CRM records in a neutral shape, and which playbook stage a CRM stage means (playbook YAML).
- `sync`: apply records to deals (idempotent upserts by CRM id), run a connection's sync page by page.
- `salesforce`, `hubspot`: the two clients, on the vendors' own libraries.
- `notify`: the owner's direct message about a stage change, composed when it is sent.
- `webhook`: HubSpot's signed deal webhooks.
"""
