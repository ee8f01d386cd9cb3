"""The one clock process: decides what proactive messages are due and hands them to the outbox."""
