"""Sessions: records, their SQLite and Redis stores, lifecycle, WorkOS events and organizations."""
