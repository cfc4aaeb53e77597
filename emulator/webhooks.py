"""Webhook endpoint routes and the Events API (`GET /events`), as the official emulator has them.

`GET /events` lists oldest first unless `order=desc` (or `normal`): the Events API is read as
a stream, `after=<last event id seen>` returning what happened since. The official emulator
defaults to `desc` (its generic list helper), so a poller should send `order` explicitly.
Cursors compare as ids (event ids sort in creation order), so a cursor that has fallen out of
the bounded log still works.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify, request

from emulator.api import error, get_state, is_http_url, require_api_key
from emulator.events import parse_time

bp = Blueprint("webhooks", __name__)

EVENT_ID = re.compile(r"^event_[0-9A-Z]{26}$")


@bp.post("/webhook_endpoints")
@require_api_key
def create_endpoint():
    """Register `{endpoint_url, events?, secret?, enabled?}`: 201 with the endpoint and secret.

    WorkOS takes no secret (it makes one up and answers it); the emulator also accepts one, so
    a launcher can give the service and the emulator the same secret up front.
    """
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _invalid("body", "The body must be a JSON object.")
    url, secret = body.get("endpoint_url"), body.get("secret")
    events, enabled = body.get("events", []), body.get("enabled", True)
    if not is_http_url(url):
        return _invalid("endpoint_url", "endpoint_url must be an absolute http(s) URL.")
    if secret is not None and (not isinstance(secret, str) or not secret):
        return _invalid("secret", "secret must be a non-empty string.")
    if not isinstance(events, list) or not all(isinstance(e, str) and e for e in events):
        return _invalid("events", "events must be a list of event names.")
    if not isinstance(enabled, bool):
        return _invalid("enabled", "enabled must be a boolean.")
    endpoint = get_state().events.add_endpoint(url, secret, events, enabled)
    return jsonify(endpoint.to_json()), 201


@bp.get("/webhook_endpoints")
@require_api_key
def list_endpoints():
    """Every endpoint, oldest first (one page)."""
    state = get_state()
    with state.lock:
        data = [ep.to_json() for ep in state.events.endpoints.values()]
    return jsonify(object="list", data=data, list_metadata={"before": None, "after": None})


@bp.get("/webhook_endpoints/<id>")
@require_api_key
def get_endpoint(id):
    """One endpoint."""
    state = get_state()
    with state.lock:
        endpoint = state.events.endpoints.get(id)
        if endpoint is None:
            return _endpoint_not_found(id)
        return jsonify(endpoint.to_json())


@bp.delete("/webhook_endpoints/<id>")
@require_api_key
def delete_endpoint(id):
    """Remove an endpoint; deliveries still queued for it are dropped."""
    if not get_state().events.remove_endpoint(id):
        return _endpoint_not_found(id)
    return "", 204


@bp.get("/events")
@require_api_key
def list_events():
    """Events filtered by type, organization and time range, with cursor pagination."""
    args = request.args
    # `events[]=a` (official emulator) and `events=a` (Python SDK), repeated or comma-separated.
    types = {
        name
        for value in args.getlist("events[]") + args.getlist("events")
        for name in value.split(",")
        if name
    }
    limit, order = args.get("limit", "10"), args.get("order", "asc")
    after, before = args.get("after"), args.get("before")
    if not (limit.isdigit() and 1 <= int(limit) <= 100):
        return _bad_params("limit must be an integer from 1 to 100.")
    if order not in ("asc", "desc", "normal"):
        return _bad_params("order must be asc, desc or normal.")
    if any(c is not None and not EVENT_ID.match(c) for c in (after, before)):
        return _bad_params("after and before must be event ids.")
    try:
        start, end = (
            parse_time(args[k]) if args.get(k) else None for k in ("range_start", "range_end")
        )
    except ValueError:
        return _bad_params("range_start and range_end must be ISO-8601 timestamps.")
    org_id = args.get("organization_id")
    state = get_state()
    with state.lock:
        found = [
            e
            for e in state.events.log
            if (not types or e.event in types)
            and (not org_id or e.organization_id == org_id)
            and (start is None or e.at >= start)
            and (end is None or e.at <= end)
        ]
    descending = order != "asc"
    if descending:
        found.reverse()

    def ahead(event_id: str, cursor: str) -> bool:
        """Whether event_id comes after cursor in the listing order."""
        return event_id < cursor if descending else event_id > cursor

    window = [
        e
        for e in found
        if (after is None or ahead(e.id, after)) and (before is None or ahead(before, e.id))
    ]
    size = int(limit)
    # Only `before`: the page nearest the cursor, as when paging back.
    page = window[-size:] if before is not None and after is None else window[:size]
    first, last = (found.index(page[0]), found.index(page[-1])) if page else (0, 0)
    return jsonify(
        object="list",
        data=[e.to_json() for e in page],
        list_metadata={
            "before": page[0].id if page and first > 0 else None,
            "after": page[-1].id if page and last < len(found) - 1 else None,
        },
    )


def _invalid(field: str, message: str) -> tuple[Response, int]:
    return error(
        400, code="invalid_request", message=message, errors=[{"field": field, "code": "invalid"}]
    )


def _bad_params(message: str) -> tuple[Response, int]:
    return error(422, code="invalid_request_parameters", message=message)


def _endpoint_not_found(endpoint_id: str) -> tuple[Response, int]:
    return error(
        404,
        message=f"Webhook endpoint not found: '{endpoint_id}'.",
        code="entity_not_found",
        entity_id=endpoint_id,
    )
