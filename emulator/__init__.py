"""A local WorkOS emulator for development and tests: `python -m emulator`, `create_app()`."""
