"""Operations: probes, metrics, logs, traces, CLI and the gunicorn worker."""
