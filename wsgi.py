"""WSGI entry point for gunicorn: `gunicorn wsgi:app -c gunicorn.conf.py`."""

from service import create_app

app = create_app()
