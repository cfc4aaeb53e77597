"""Benchmarks for the token service: `python -m bench [part ...]`.

How to run and read them: docs/development.md#benchmarks-make-bench.

Parts, run in this order by default; each starts its own processes (emulator, gunicorn,
redis-server) on free loopback ports and stops them by pid:

    throughput  cache-hit rps of GET /api/graphql-token against GET /healthz (wrk)
    burst       WorkOS mints per (session, organization) under a cold concurrent burst
    latency     what a cache miss adds over the emulator's configured latency
    memory      bytes per cached token, in process and in Redis
    soak        60 s of load while tokens expire: errors and mints against the expected count
    surge       500 cold sessions at once under WORKOS_REQUEST_BUDGET, the emulator limiting
                the key: WorkOS 429s, mints in any 60 s, time to serve all, sign-ins meanwhile
    hotpath     (only when named) where a hit's and a miss's time goes, in process + cProfile

Each part returns table rows plus raw numbers; `__main__` prints one table and writes
`bench/results.json`.
"""
