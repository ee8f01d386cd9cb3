"""What several test modules share: fixed times, chatting through the real router, the command line,
signed Slack requests and Teams activities, and the outbox's test data. Fixtures stay in tests/conftest.py;
the platform doubles are in tests/doubles/."""
