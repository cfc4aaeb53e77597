"""Sessions: records and the values beside them, their SQLite and Redis stores, lifecycle,
WorkOS events and organizations."""
