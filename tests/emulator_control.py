"""The tests' client of a running emulator: devstack's, plus the control routes only tests drive.

devstack.control_client.EmulatorControl keeps what `make run` and `make bench` call (the request
log, latency, the rate limit, webhooks, the AuthKit redirect); resets, canned replies, seeded
memberships, deliveries and revocations are test-only and live here.
"""

from __future__ import annotations

from collections.abc import Sequence

from devstack import control_client


class EmulatorControl(control_client.EmulatorControl):
    """One emulator, reached over its real port, with the test suite's control routes."""

    def reset(self) -> None:
        self._call("POST", "/_emulate/reset")

    def hook(
        self,
        method: str,
        path: str,
        status: int | None = None,
        *,
        body: object = None,
        count: int | None = None,
        delay_ms: int | None = None,
        headers: dict[str, str] | None = None,
        drop: bool = False,
    ) -> None:
        """Make the emulator answer method+path with a canned reply (count times)."""
        spec: dict[str, object] = {"method": method, "path": path}
        for key, value in (
            ("status", status),
            ("body", body),
            ("count", count),
            ("delay_ms", delay_ms),
            ("headers", headers),
        ):
            if value is not None:
                spec[key] = value
        if drop:
            spec["drop"] = True
        self._call("POST", "/_emulate/hooks", json=spec)

    def clear_hooks(self) -> None:
        self._call("DELETE", "/_emulate/hooks")

    def set_token_ttl(self, seconds: int) -> None:
        self._call("PUT", "/_emulate/config", json={"client_token_ttl": seconds})

    def set_redirect_uris(self, uris: Sequence[str]) -> None:
        """Register these redirect URIs only (empty: accept any, the default)."""
        self._call("PUT", "/_emulate/config", json={"redirect_uris": list(uris)})

    def add_membership(self, user_id: str, organization_id: str, role: str = "member") -> None:
        self._call(
            "POST",
            "/_emulate/memberships",
            json={"user_id": user_id, "organization_id": organization_id, "role": role},
        )

    def remove_membership(self, user_id: str, organization_id: str) -> None:
        self._call(
            "DELETE",
            "/_emulate/memberships",
            json={"user_id": user_id, "organization_id": organization_id},
        )

    def deliveries(self) -> list[dict]:
        """Every webhook delivery attempt so far, oldest first."""
        return self._call("GET", "/_emulate/deliveries")["deliveries"]

    def revoke_sessions(self, email: str) -> list[str]:
        """Revoke every active session of the user with this email; their ids."""
        return self._call("POST", "/_emulate/sessions/revoke", json={"email": email})["revoked"]
