"""JSON values checked against the type grammar of tools/ts_types.py, strictly.

WorkOS's answers carry exactly the fields their types declare, so a field the type does not
declare (and no index signature admits) is a problem, as is a missing required field, a wrong
primitive, a value outside its literals, or a null where the type has no `| null`.
"""

from __future__ import annotations

import json
import re

IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$]*$")


def problems(value: object, node: dict, types: dict, path: str = "$") -> list[str]:
    """Every mismatch of value against node, each naming its JSON path."""
    kind = node["kind"]
    if kind == "ref":
        if node["name"] not in types:
            return [f"{path}: type {node['name']} is not declared"]
        return problems(value, types[node["name"]], types, path)
    if kind == "unknown":
        return []
    if kind == "null":
        return [] if value is None else [f"{path}: expected null, got {_show(value)}"]
    if kind == "string":
        return [] if isinstance(value, str) else [f"{path}: expected string, got {_show(value)}"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected boolean, got {_show(value)}"]
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected number, got {_show(value)}"]
    if kind == "literal":
        same = value == node["value"] and type(value) is type(node["value"])
        return [] if same else [f"{path}: expected {_show(node['value'])}, got {_show(value)}"]
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: expected an array, got {_show(value)}"]
        found = []
        for i, item in enumerate(value):
            found += problems(item, node["of"], types, f"{path}[{i}]")
        return found
    if kind == "union":
        return _union(value, node["of"], types, path)
    if kind == "intersection":
        return _object(value, merged(node["of"], types), types, path)
    if kind == "object":
        return _object(value, node, types, path)
    raise ValueError(f"type node of kind {kind!r} not understood")


def _object(value: object, node: dict, types: dict, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object, got {_show(value)}"]
    found = []
    for name, spec in node["fields"].items():
        where = _member(path, name)
        if name not in value:
            if not spec["optional"]:
                found.append(f"{where}: required field missing")
        elif value[name] is None and spec["nullable"]:
            continue
        else:
            found += problems(value[name], spec["type"], types, where)
    for name in value.keys() - node["fields"].keys():
        where = _member(path, name)
        if node["index"] is None:
            found.append(f"{where}: field not in the type")
        else:
            found += problems(value[name], node["index"], types, where)
    return sorted(found)


def _union(value: object, members: list[dict], types: dict, path: str) -> list[str]:
    """No problem if one member fits; else the problems of the closest member of value's kind."""
    tried = [problems(value, member, types, path) for member in members]
    if any(not found for found in tried):
        return []
    resolved = [_resolve(member, types) for member in members]
    if all(m["kind"] in ("literal", "null") for m in resolved):
        allowed = ", ".join(_show(m.get("value")) for m in resolved)
        return [f"{path}: {_show(value)} is not one of {allowed}"]
    alike = [found for found, m in zip(tried, resolved, strict=True) if _fits_kind(value, m)]
    if not alike:
        return [f"{path}: {_show(value)} fits none of the union's {len(members)} members"]
    return min(alike, key=len)


def _fits_kind(value: object, node: dict) -> bool:
    """Whether value is of the JSON kind node describes (object, array, string, ...)."""
    kinds = {
        "object": dict,
        "intersection": dict,
        "array": list,
        "string": str,
        "boolean": bool,
        "number": int | float,
        "null": type(None),
    }
    if node["kind"] == "literal":
        return type(value) is type(node["value"])
    return node["kind"] == "unknown" or isinstance(value, kinds.get(node["kind"], ()))


def _resolve(node: dict, types: dict) -> dict:
    while node["kind"] == "ref" and node["name"] in types:
        node = types[node["name"]]
    return node


def merged(parts: list[dict], types: dict) -> dict:
    """An intersection of object types as one object type (fields of all parts)."""
    fields: dict[str, dict] = {}
    index = None
    for part in parts:
        part = _resolve(part, types)
        if part["kind"] == "intersection":
            part = merged(part["of"], types)
        if part["kind"] != "object":
            raise ValueError(f"intersection with a {part['kind']} not understood")
        overlap = fields.keys() & part["fields"].keys()
        if overlap or (index is not None and part["index"] is not None):
            raise ValueError(f"intersection redeclares {sorted(overlap) or 'the index'}")
        fields.update(part["fields"])
        index = index if part["index"] is None else part["index"]
    return {"kind": "object", "fields": fields, "index": index}


def _member(path: str, name: str) -> str:
    return f"{path}.{name}" if IDENTIFIER.match(name) else f"{path}[{json.dumps(name)}]"


def _show(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
