"""The default seed's users and organizations (emulator/seed.py), by the names tests use."""

ALICE, BOB, CAROL = "alice@acme.com", "bob@globex.com", "carol@example.com"
ACME, GLOBEX = "org_acme", "org_globex"
