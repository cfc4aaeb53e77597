"""Fixtures shared by the tiers: the emulator on a real port, the app factory, sign-in."""

from __future__ import annotations

import bisect
import logging
import os
import re
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import pytest

from devstack.control_client import API_KEY
from devstack.stack import service_env, start_redis
from service import components
from tests import support
from tests.emulator_control import EmulatorControl
from tests.support import ThreadedServer, require_tool

SECRET = "test-secret-key-0123456789abcdef0123456789"

# -- secrets check: no log of the run holds the API key or a token ---------------------------

# header.payload.signature with JSON header and payload: what every token of the emulator is.
JWT_SHAPE = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")
# Lines allowed to name a secret: `make run`'s banner (devstack/dev.py) tells the developer
# the local emulator's well-known key. The service's own output has no exception.
ALLOWED_LINES = (re.compile(r"^\s*Emulator: \S+\s+\(local WorkOS; API key sk_test_default\)$"),)


class ServiceLogRecords:
    """Every log record of the `service` loggers made in this process, kept as text.

    The service's own handler is replaced by each create_app(), so records are caught where
    they are made (the record factory) and turned into text after each test: as the service's
    formatter writes them, and raw (before its redaction, which must not be the only guard).
    """

    def __init__(self) -> None:
        self.texts: list[tuple[str, str, str]] = []  # (where, how, text)
        self._pending: list[tuple[logging.LogRecord, str]] = []
        self._previous = logging.getLogRecordFactory()

    def install(self) -> None:
        logging.setLogRecordFactory(self._make)

    def uninstall(self) -> None:
        logging.setLogRecordFactory(self._previous)

    def _make(self, *args, **kwargs) -> logging.LogRecord:
        record = self._previous(*args, **kwargs)
        if record.name == "service" or record.name.startswith("service."):
            test = os.environ.get("PYTEST_CURRENT_TEST", "(outside a test)").rsplit(" ", 1)[0]
            self._pending.append((record, test))
        return record

    def flush(self) -> None:
        """Turn the records caught so far into text (and let go of their tracebacks)."""
        from service.ops.logs import JsonFormatter

        written, raw = JsonFormatter(), logging.Formatter("%(message)s")
        pending, self._pending = self._pending, []
        for record, test in pending:
            where = f"{record.pathname}:{record.lineno} ({record.name}, during {test})"
            try:
                extras = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}
                self.texts.append((where, "as the service writes it", written.format(record)))
                self.texts.append((where, "before redaction", raw.format(record) + repr(extras)))
            except Exception as exc:  # a record that cannot be formatted is reported, not lost
                self.texts.append((where, "unformattable", f"{type(exc).__name__}"))


_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _known_secrets() -> dict[str, str]:
    """Each secret string of the run, with the words that name it in a report."""
    found = {API_KEY: "the WorkOS API key"}
    tokens = set(support.SECRETS)
    for app in support.EMULATOR_APPS:
        state = app.extensions["emulator"]
        tokens.update(getattr(state, "issued", ()))
    for token in tokens:
        if isinstance(token, str) and len(token) >= 8:
            found.setdefault(token, "a token the emulator issued or a test minted")
    return found


def _findings(text: str, secrets: dict[str, str]) -> list[tuple[int, str]]:
    """(offset, what) for every secret in text; the secret itself is never named."""
    found = []
    for secret, what in secrets.items():
        start = text.find(secret)
        while start != -1:
            found.append((start, what))
            start = text.find(secret, start + len(secret))
    found += [(match.start(), "a JWT-shaped string") for match in JWT_SHAPE.finditer(text)]
    return found


SECRETS_CHECKED: dict[str, int] = {}  # what the last check covered, for the summary line


def _problems(
    files: list[Path], texts: list[tuple[str, str, str]], secrets: dict[str, str]
) -> list[str]:
    """One line per place where a secret was written: file and line, or log record."""
    # One text to search: every log file, then one line per log record; `sources` maps an
    # offset in it back to a file and line, or to the record.
    parts: list[str] = []
    sources: list[tuple[int, str, bool]] = []  # (start offset, name, is a file)
    offset = 0
    for path in files:
        text = Path(path).read_text(errors="replace") + "\n"
        sources.append((offset, str(path), True))
        parts.append(text)
        offset += len(text)
    for where, how, text in texts:
        line = text.replace("\n", " ") + "\n"
        sources.append((offset, f"{where}: in a log record ({how})", False))
        parts.append(line)
        offset += len(line)
    corpus = "".join(parts)
    starts = [start for start, _, _ in sources]
    problems = set()
    for position, what in _findings(corpus, secrets):
        line_start = corpus.rfind("\n", 0, position) + 1
        text = corpus[line_start : corpus.find("\n", position)]
        if any(allowed.match(text) for allowed in ALLOWED_LINES):
            continue
        start, name, is_file = sources[bisect.bisect_right(starts, position) - 1]
        if is_file:
            line = corpus.count("\n", start, position) + 1
            problems.add(f"{name}:{line}: {what}")
        else:
            problems.add(f"{name}: {what}")
    return sorted(problems)


def secrets_report(records: ServiceLogRecords) -> list[str]:
    """One line per place where a secret was written: file and line, or log record."""
    records.flush()
    files = [path for path in support.LOG_PATHS if Path(path).exists()]
    secrets = _known_secrets()
    SECRETS_CHECKED.update(files=len(files), records=len(records.texts) // 2, secrets=len(secrets))
    return _problems(files, records.texts, secrets)


def _fail_on(problems: list[str]) -> None:
    if problems:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        pytest.fail(f"secrets found in the run's logs:\n  {shown}{more}", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def secrets_check():
    """Fail the run when a log it captured holds the API key or a token
    (docs/workos.md#how-every-call-is-made)."""
    records = ServiceLogRecords()
    records.install()
    yield records
    records.uninstall()
    _fail_on(secrets_report(records))


# -- the secrets check under pytest-xdist (`-n`) ----------------------------------------------
# Each worker runs the check above over the log files its own processes wrote and its own log
# records, at its end, and fails its last test when a secret is found. It then hands its log
# files and the secrets it knew to the controller (workeroutput), which checks every worker's
# files once more against every worker's secrets, and fails the run if any worker ended without
# handing them over (it crashed, or stopped before its check).

WORKER_CHECKS: list[dict | None] = []  # in the controller: one per worker that ended
XDIST_PROBLEMS: list[str] = []


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker, done with its tests and fixtures
        workeroutput["secrets_check"] = {
            "checked": dict(SECRETS_CHECKED),
            "files": [str(path) for path in support.LOG_PATHS if Path(path).exists()],
            "secrets": _known_secrets(),
        }
    elif WORKER_CHECKS:  # the controller of an xdist run
        XDIST_PROBLEMS.extend(_check_workers(WORKER_CHECKS))
        if XDIST_PROBLEMS:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """(controller) A worker ended: keep what its secrets check covered, or None."""
    WORKER_CHECKS.append(getattr(node, "workeroutput", {}).get("secrets_check"))


def _check_workers(checks: list[dict | None]) -> list[str]:
    """Every worker's log files against every worker's secrets; the summary's figures."""
    done = [check for check in checks if check is not None]
    problems = []
    if len(done) < len(checks):
        missing = len(checks) - len(done)
        problems.append(f"{missing} of {len(checks)} workers ended without their secrets check")
    files = sorted({Path(path) for check in done for path in check["files"]})
    secrets: dict[str, str] = {}
    for check in done:
        secrets.update(check["secrets"])
    records = sum(check["checked"].get("records", 0) for check in done)
    SECRETS_CHECKED.update(
        files=len(files), records=records, secrets=len(secrets), workers=len(checks)
    )
    return problems + _problems([path for path in files if path.exists()], [], secrets)


def pytest_terminal_summary(terminalreporter):
    """One line saying what the secrets check covered (and, under xdist, what it found)."""
    if SECRETS_CHECKED:
        workers = SECRETS_CHECKED.get("workers")
        terminalreporter.write_line(
            "secrets check: {files} log files, {records} service log records, "
            "{secrets} known secrets".format(**SECRETS_CHECKED)
            + (f", over {workers} workers" if workers else "")
        )
    if XDIST_PROBLEMS:
        terminalreporter.write_line("secrets check failed:", red=True)
        for problem in XDIST_PROBLEMS[:50]:
            terminalreporter.write_line(f"  {problem}", red=True)


# An API key of the emulator's shape (sk_test_...), and a token as pytest shortens it in a
# comparison ('eyJhbGci...c2lnbmF0'), masked like a whole token in failure reports.
API_KEY_SHAPE = re.compile(r"sk_test_\w+")
SHORTENED_JWT = re.compile(r"eyJ[\w-]*\.\.\.[\w-]*")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test's report (CI's log) shows no token and no API key: an assertion on a
    token's value would otherwise print it, and the secrets check reads log files only."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.longrepr is not None:
        text = str(report.longrepr)
        masked = JWT_SHAPE.sub("[token]", text)
        masked = API_KEY_SHAPE.sub("sk_test_[masked]", SHORTENED_JWT.sub("[token]", masked))
        if masked != text:
            report.longrepr = masked


def pytest_collection_modifyitems(items):
    """Items that share a node id get their name's parameters in it, so each has its own.

    schemathesis 4 under pytest 9 names each operation's test after it (e.g.
    `test_fuzz_anonymous[GET /api/session]`) but gives them all the function's bare node id:
    pytest-xdist's per-file scheduling keys tests by node id, and would run one of each.
    """
    counts = Counter(item.nodeid for item in items)
    for item in items:
        if counts[item.nodeid] > 1 and item.name.endswith("]") and "[" not in item.nodeid:
            item._id = item._id.with_params(item.name.partition("[")[2].removesuffix("]"))
    duplicates = [nodeid for nodeid, n in Counter(item.nodeid for item in items).items() if n > 1]
    if duplicates:
        raise pytest.UsageError(f"tests sharing a node id (xdist would run one): {duplicates}")


@pytest.fixture(autouse=True)
def _service_log_records(secrets_check):
    """After each test, keep its service log records as text only."""
    yield
    secrets_check.flush()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """A redis-server on a free port for one test module; its URL."""
    require_tool("redis-server", "apt-get install redis-server")
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    proc.stop()


@pytest.fixture
def raw(redis_server):
    """A plain redis-py client on the module's server, emptied before each test."""
    import redis

    client = redis.Redis.from_url(redis_server)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def emulator_server():
    """The emulator served in a thread on a free loopback port, for the whole run."""
    from emulator.app import create_app as create_emulator

    server = ThreadedServer(create_emulator(allowed_origins=("http://localhost",))).start()
    yield server
    server.stop()


@pytest.fixture
def emulator(emulator_server) -> EmulatorControl:
    """The emulator, reset to its seed before each test."""
    control = EmulatorControl(emulator_server.url)
    control.reset()
    return control


def app_env(emulator_url: str, **extra) -> dict[str, str]:
    """Settings for an in-process app (Flask test client) pointed at an emulator."""
    settings = {"APP_BASE_URL": "http://localhost", "WORKOS_TIMEOUT_SECONDS": 1, "REDIS_URL": ""}
    return service_env(emulator_url, 80, **{"SECRET_KEY": SECRET, **settings, **extra})


@pytest.fixture
def make_app(emulator, tmp_path):
    """Build an app against the emulator, with extra settings (its own session file)."""
    from service import create_app

    built = []

    def build(**extra):
        extra.setdefault("SESSION_DB_PATH", str(tmp_path / "sessions.sqlite3"))
        app = create_app(app_env(emulator.url, **extra))
        app.config["TESTING"] = True
        built.append(app)
        return app

    yield build
    for app in built:
        poller = components.of(app).events_poller
        if poller is not None:
            poller.stop()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


class Browser:
    """Signs a test client in through the real AuthKit flow against the emulator."""

    def __init__(self, client, emulator: EmulatorControl):
        self.client = client
        self.emulator = emulator

    def start(self, email: str | None, next_path: str | None = None):
        """GET /login; returns the redirect to the emulator's authorize URL."""
        params = {k: v for k, v in (("login_hint", email), ("next", next_path)) if v}
        response = self.client.get("/login?" + urlencode(params))
        assert response.status_code == 302
        return response

    def sign_in(self, email: str, next_path: str | None = None):
        """Full flow up to the callback's answer."""
        authorize = self.start(email, next_path).headers["Location"]
        return self.client.get(self.emulator.authorize(authorize))

    def token(self, **headers):
        return self.client.get("/api/graphql-token", headers={"X-CSRF": "1", **headers})

    def record(self):
        """The session record this browser's cookie points at, or None."""
        with self.client.session_transaction() as s:
            session_id = s.get("session_id")
        if session_id is None:
            return None
        return components.of(self.client.application).sessions.store.get(session_id)

    def csrf(self) -> str:
        """This session's form CSRF token (rendering a page makes one)."""
        self.client.get("/")
        with self.client.session_transaction() as s:
            return s["csrf_token"]


@pytest.fixture
def browser(client, emulator) -> Browser:
    return Browser(client, emulator)
