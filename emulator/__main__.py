"""Command line: `python -m emulator --port 4100 --seed seed.yaml ...`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from werkzeug.serving import make_server

from emulator.app import create_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4100, help="0 picks a free port")
    parser.add_argument("--seed", metavar="FILE", help="YAML or JSON seed (default: built-in)")
    parser.add_argument("--api-key", default="sk_test_default")
    parser.add_argument("--client-id", default="client_emulator")
    parser.add_argument("--client-token-ttl", type=int, default=300, metavar="SECONDS")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="origin allowed to call /client/graphql (repeatable; * for any)",
    )
    parser.add_argument(
        "--signing-key",
        metavar="PEM",
        help="RSA key file; created when missing, so tokens survive restarts",
    )
    parser.add_argument(
        "--rate-limit",
        metavar="N/minute",
        help="answer 429 + Retry-After beyond N calls per API key in any minute (off by default)",
    )
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        metavar="URL",
        help="a registered redirect URI (repeatable); when given, authorize refuses any other",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    return parser.parse_args(argv)


def _stop(signum, frame):
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    """Serve the emulator until SIGTERM or SIGINT."""
    args = parse_args(argv)
    try:
        app = create_app(
            seed=args.seed,
            api_key=args.api_key,
            client_id=args.client_id,
            client_token_ttl=args.client_token_ttl,
            latency_ms=args.latency_ms,
            allowed_origins=args.allowed_origin,
            signing_key_path=args.signing_key,
            rate_limit=args.rate_limit,
            redirect_uris=args.redirect_uri,
        )
    except (OSError, ValueError) as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except OSError as exc:
        print(f"emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"emulator listening on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
