"""Minted tokens: the broker, its in-process and Redis stores, names and lifetimes."""
