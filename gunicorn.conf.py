"""gunicorn settings: buffered gthread workers, sizes from the environment, logs to stdout."""

import os
import tempfile

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads share one process's token cache; few workers with several threads each suit it.
# gthread, except that a thread gets a request only once all of it has arrived: a client
# trickling its request cannot hold a thread (service/ops/gunicorn_worker.py).
worker_class = "service.ops.gunicorn_worker.BufferedThreadWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Well above WORKOS_TIMEOUT_SECONDS (default 5): a request makes at most two WorkOS attempts.
timeout = max(30, int(4 * float(os.environ.get("WORKOS_TIMEOUT_SECONDS", "5"))))
graceful_timeout = 20
keepalive = 5
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Path without the query string (it may carry a sign-in code); the request id ties the
# access line to the app's own log lines.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
# The path is logged decoded (%0A is a newline): escape control characters in every field.
logger_class = "service.ops.access_log.AccessLogger"
# Request lines and headers beyond these answer 400 before reaching the app.
limit_request_line = 4094
limit_request_field_size = 8190
limit_request_fields = 50

# Forwarded headers are the app's business alone: werkzeug's ProxyFix, as many hops as
# TRUSTED_PROXIES says, none with 0. gunicorn's own handling (X-Forwarded-Proto and friends,
# SCRIPT_NAME) trusted any sender on 127.0.0.1 whatever TRUSTED_PROXIES said: off.
secure_scheme_headers: dict[str, str] = {}
forwarded_allow_ips = ""

# gunicorn's runtime control socket defaults to one path per user, which two masters on one
# host (blue/green, or the tests) would fight over; signals (HUP, TTIN, TERM) do the same job.
control_socket_disable = True

# Prometheus multiprocess mode: workers write metric files to one directory per master,
# emptied at start so counters do not carry over from an earlier run.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gts-metrics-")


def on_starting(server):
    """Empty the metrics directory before the first worker starts."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))


def child_exit(server, worker):
    """Drop a dead worker's live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
