"""Seed data: the built-in directory and loading a YAML/JSON seed of the same shape.

Shape (every list optional; ids optional except where another entry refers to them)::

    roles:         [{slug, permissions: [str]}]
    organizations: [{id, name, domains: [str], metadata: {str: str}, external_id}]
    users:         [{id, email, first_name, last_name, email_verified, profile_picture_url,
                     external_id}]
    memberships:   [{id, user_id, organization_id, role, status}]
    errorHooks:    [{method, path, status, body, count, delay_ms, headers, drop}]

`errorHooks` uses the official workos/emulate key name so one seed file serves both.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path

import yaml

DEFAULT_SEED: dict = {
    "roles": [
        {
            "slug": "admin",
            "permissions": [
                "widgets:users-table:manage",
                "widgets:domain-verification:manage",
                "widgets:sso:manage",
            ],
        },
        {"slug": "member", "permissions": []},
    ],
    "organizations": [
        {"id": "org_acme", "name": "Acme Corp", "domains": ["acme.com"]},
        {"id": "org_globex", "name": "Globex", "domains": ["globex.com"]},
    ],
    "users": [
        {
            "id": "user_alice",
            "email": "alice@acme.com",
            "first_name": "Alice",
            "last_name": "Anders",
        },
        {"id": "user_bob", "email": "bob@globex.com", "first_name": "Bob", "last_name": "Brown"},
        {
            "id": "user_carol",
            "email": "carol@example.com",
            "first_name": "Carol",
            "last_name": "Chen",
        },
    ],
    "memberships": [
        {
            "id": "om_alice_acme",
            "user_id": "user_alice",
            "organization_id": "org_acme",
            "role": "admin",
        },
        {
            "id": "om_bob_acme",
            "user_id": "user_bob",
            "organization_id": "org_acme",
            "role": "member",
        },
        {
            "id": "om_bob_globex",
            "user_id": "user_bob",
            "organization_id": "org_globex",
            "role": "admin",
        },
    ],
}

SECTIONS = ("roles", "organizations", "users", "memberships", "errorHooks")


def load_seed(seed: Mapping | str | Path | None) -> dict:
    data: object
    """Return a private copy of the seed: the built-in one, a mapping, or a YAML/JSON file."""
    if seed is None:
        data = DEFAULT_SEED
    elif isinstance(seed, Mapping):
        data = seed
    else:
        path = Path(seed)
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        data = data or {}
    if not isinstance(data, Mapping):
        raise ValueError("seed: the top level must be a mapping")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ValueError(f"seed: unknown section(s) {unknown}; expected some of {list(SECTIONS)}")
    for name, value in data.items():
        if value is not None and not isinstance(value, list):
            raise ValueError(f"seed: {name} must be a list")
    return copy.deepcopy({name: data.get(name) or [] for name in SECTIONS})
