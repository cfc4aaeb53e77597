"""Foundations every package shares: keys, sealing, Redis, claims, errors, tracing."""
