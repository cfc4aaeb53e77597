"""WorkOS: the HTTP client, its transport, replies, errors, request budget and access tokens."""
