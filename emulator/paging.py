"""WorkOS's cursor paging, shared by the GraphQL lists and the widgets' REST lists."""

from __future__ import annotations


def page_window(items: list[dict], after: str | None, before: str | None, limit: int) -> dict:
    """One page of items with its cursors: the ids at the page's ends, None at the list's.

    `after` starts the page past that id, `before` ends it there; an unknown cursor starts over.
    Answers {"data", "after", "before"}; callers name the cursors as their API does.
    """
    ids = [item["id"] for item in items]
    if after in ids:
        start = ids.index(after) + 1
        end = start + limit
    elif before in ids:
        end = ids.index(before)
        start = max(0, end - limit)
    else:
        start, end = 0, limit
    page = items[start:end]
    return {
        "data": page,
        "after": page[-1]["id"] if page and end < len(items) else None,
        "before": page[0]["id"] if page and start > 0 else None,
    }
