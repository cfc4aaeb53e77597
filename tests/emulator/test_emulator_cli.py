"""`python -m emulator` as a process, and seeds loaded from files."""

from __future__ import annotations

import json
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
import requests

from devstack.stack import PYTHON, Process
from emulator.app import create_app

API = {"Authorization": "Bearer sk_test_default"}
LISTENING = re.compile(r"^emulator listening on (http://127\.0\.0\.1:(\d+))$", re.M)

SEED_YAML = """\
roles:
  - slug: owner
    permissions: [everything]
organizations:
  - id: org_initech
    name: Initech
    domains: [{domain: initech.com, state: verified}]
users:
  - id: user_peter
    email: peter@initech.com
    first_name: Peter
memberships:
  - user_id: user_peter
    organization_id: org_initech
    role: owner
errorHooks:
  - method: GET
    path: /organizations/org_missing
    status: 503
"""


def start(tmp_path, *args: str) -> tuple[Process, str]:
    """Run the CLI on port 0 and read the URL from its one listening line."""
    proc = Process(
        [PYTHON, "-m", "emulator", "--port", "0", *args],
        log_path=tmp_path / f"emulator-{time.monotonic_ns()}.log",
    ).start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        match = LISTENING.search(proc.output())
        if match:
            return proc, match.group(1)
        if proc.popen.poll() is not None:
            break
        time.sleep(0.02)
    proc.stop()
    pytest.fail(f"no listening line; output:\n{proc.output()}")


def test_cli_serves_seed_file_keeps_signing_key_and_stops_on_sigterm(tmp_path):
    seed, key = tmp_path / "seed.yaml", tmp_path / "keys" / "signing.pem"
    seed.write_text(SEED_YAML)
    proc, url = start(
        tmp_path,
        "--seed",
        str(seed),
        "--signing-key",
        str(key),
        "--quiet",
        "--client-token-ttl",
        "60",
    )
    try:
        assert requests.get(f"{url}/health", timeout=5).json() == {"status": "ok"}
        assert len(LISTENING.findall(proc.output())) == 1
        minted = requests.post(
            f"{url}/client/token",
            headers=API,
            timeout=5,
            json={"organization_id": "org_initech", "user_id": "user_peter"},
        )
        assert minted.status_code == 201
        jwks = requests.get(f"{url}/sso/jwks/client_emulator", timeout=5).json()
        hooked = requests.get(f"{url}/organizations/org_missing", headers=API, timeout=5)
        assert hooked.status_code == 503
        # Several slow requests at once finish together: the server is threaded.
        requests.put(f"{url}/_emulate/latency", json={"ms": 400}, timeout=5)
        started = time.monotonic()
        with ThreadPoolExecutor(6) as pool:
            statuses = list(
                pool.map(
                    lambda _: (
                        requests.get(
                            f"{url}/organizations/org_initech", headers=API, timeout=5
                        ).status_code
                    ),
                    range(6),
                )
            )
        assert statuses == [200] * 6 and time.monotonic() - started < 1.5
        proc.signal(signal.SIGTERM)
        assert proc.popen.wait(timeout=10) == 0
    finally:
        proc.stop()
    assert key.exists() and key.stat().st_mode & 0o077 == 0

    again, url = start(tmp_path, "--signing-key", str(key))
    try:
        # The same key publishes the same JWKS, certificate included.
        assert requests.get(f"{url}/sso/jwks/client_emulator", timeout=5).json() == jwks
        jwk = jwks["keys"][0]
        claims = jwt.decode(minted.json()["token"], jwt.PyJWK(jwk).key, algorithms=["RS256"])
        assert claims["exp"] - claims["iat"] == 60
        # The built-in seed is back without --seed.
        assert requests.get(f"{url}/organizations/org_acme", headers=API, timeout=5).ok
        again.signal(signal.SIGINT)
        assert again.popen.wait(timeout=10) == 0
    finally:
        again.stop()


def test_cli_rejects_a_bad_seed_with_a_message(tmp_path):
    seed = tmp_path / "seed.yaml"
    seed.write_text("organisations: []\n")
    proc = Process(
        [PYTHON, "-m", "emulator", "--port", "0", "--seed", str(seed)],
        log_path=tmp_path / "bad.log",
    ).start()
    assert proc.popen.wait(timeout=15) == 2
    proc.stop()
    assert "unknown section(s) ['organisations']" in proc.output()


def test_factory_accepts_seed_mapping_and_json_file(tmp_path):
    seed = {
        "organizations": [{"id": "org_one", "name": "One"}],
        "users": [{"email": "x@one.test"}],
        "memberships": [],
    }
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    for source in (seed, path):
        state = create_app(seed=source).extensions["emulator"]
        assert list(state.organizations) == ["org_one"]
        (user,) = state.users.values()
        assert user.email == "x@one.test" and user.id.startswith("user_")
    with pytest.raises(ValueError, match="seed"):
        create_app(seed={"users": [{"first_name": "no email"}]})
