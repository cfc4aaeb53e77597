"""WorkOS's published Widgets API types, extracted from `@workos-inc/widgets` into a JSON file.

    .venv/bin/python -m tools.widgets_schema [--version X.Y.Z] [--package-dir DIR]

Runs `npm pack` for the pinned version into a temporary directory, reads
`dist/esm/api/client-graphql/generated.d.ts` (graphql-codegen's TypeScript output for the
Widgets API schema) and writes every type, field, argument, enum value, union member and input
field, in GraphQL notation, to tests/data/workos_widgets_schema.json. The conformance test
reads that file, so the test itself needs no npm. Re-running with a new version prints what
changed. The parser understands exactly the shapes codegen writes and fails on anything else,
so a change of output format is noticed rather than half read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@workos-inc/widgets"
VERSION = "1.18.0"
TYPES_FILE = "dist/esm/api/client-graphql/generated.d.ts"
OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "workos_widgets_schema.json"

OBJECT_START = re.compile(r"^type (\w+) = \{$")
ALIAS = re.compile(r"^type (\w+) = (.+);$")
FIELD = re.compile(r"^    (\w+)(\??): (.+);$")
TYPENAME = re.compile(r'^    __typename\?: "(\w+)";$')
DOC_ONE_LINE = re.compile(r"^\s*/\*\* ?(.*?) ?\*/$")
SCALAR = re.compile(r'^Scalars\["(\w+)"\]\["(?:input|output)"\]$')
WRAPPER = re.compile(r"^(InputMaybe|Maybe|Array)<(.+)>$")
BUILT_IN_SCALARS = {"ID", "String", "Boolean", "Int", "Float"}
# Codegen's own helper types, declared before the schema's types.
HELPERS = {"Scalars"}


def graphql_type(expr: str) -> str:
    """`Maybe<Array<Scalars["String"]["output"]>>` -> `[String!]`."""
    expr = expr.strip()
    wrapped = WRAPPER.match(expr)
    if wrapped:
        kind, inner = wrapped.groups()
        if kind == "Array":
            return f"[{graphql_type(inner)}]!"
        return graphql_type(inner).removesuffix("!")
    scalar = SCALAR.match(expr)
    if scalar:
        return f"{scalar[1]}!"
    if re.fullmatch(r"\w+", expr):
        return f"{expr}!"
    raise ValueError(f"unexpected type expression: {expr!r}")


def _doc(lines: list[str], end: int) -> str | None:
    """The /** ... */ comment that ends on the line before `end`, if any."""
    i = end - 1
    if i < 0 or not lines[i].strip().endswith("*/"):
        return None
    one = DOC_ONE_LINE.match(lines[i])
    if one:
        return one[1]
    start = i
    while start >= 0 and not lines[start].strip().startswith("/**"):
        start -= 1
    body = [re.sub(r"^\s*(/\*\*|\*/|\*)\s?", "", line).rstrip() for line in lines[start : i + 1]]
    return " ".join(part for part in body if part) or None


def parse(text: str) -> dict:
    """Every schema type of generated.d.ts: {name: {kind, description?, fields|values|...}}."""
    lines = text.splitlines()
    objects: dict[str, dict] = {}
    aliases: dict[str, tuple[str, str | None]] = {}
    scalars: dict[str, str | None] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        start = OBJECT_START.match(line)
        if start:
            end = lines.index("};", i)
            objects[start[1]] = {"description": _doc(lines, i), "body": lines[i + 1 : end]}
            i = end + 1
            continue
        alias = ALIAS.match(line)
        if alias:
            aliases[alias[1]] = (alias[2], _doc(lines, i))
        i += 1

    scalar_body = objects.pop("Scalars")["body"]
    for n, line in enumerate(scalar_body):
        named = re.match(r"^    (\w+): \{$", line)
        if named and named[1] not in BUILT_IN_SCALARS:
            scalars[named[1]] = _doc(scalar_body, n)

    types: dict[str, dict] = {}
    args: dict[str, dict] = {}
    for name, obj in objects.items():
        if name in HELPERS:
            continue
        body = obj["body"]
        typename = next((TYPENAME.match(line) for line in body if TYPENAME.match(line)), None)
        if typename is not None and typename[1] != name:
            continue  # an operation's result type (e.g. ClientApiStatusQuery), not the schema's
        fields = {}
        for n, line in enumerate(body):
            if TYPENAME.match(line) or line.strip().startswith(("/**", "*", "*/")):
                continue
            field = FIELD.match(line)
            if not field:
                raise ValueError(f"{name}: unexpected line {line!r}")
            entry = {"type": graphql_type(field[3])}
            description = _doc(body, n)
            if description:
                entry["description"] = description
            fields[field[1]] = entry
        if typename is not None:
            types[name] = _with_description({"kind": "OBJECT", "fields": fields}, obj)
        elif name.endswith("Args"):
            args[name] = fields
        else:
            types[name] = _with_description({"kind": "INPUT_OBJECT", "inputFields": fields}, obj)

    for name, (rhs, description) in aliases.items():
        members = [part.strip() for part in rhs.split("|")]
        if all(re.fullmatch(r'"\w+"', m) for m in members):
            entry = {"kind": "ENUM", "values": sorted(m.strip('"') for m in members)}
        elif all(m in types and types[m]["kind"] == "OBJECT" for m in members):
            entry = {"kind": "UNION", "possibleTypes": sorted(members)}
        else:
            continue  # a codegen helper (GraphQLClientRequestHeaders, Sdk, ...)
        types[name] = {**entry, **({"description": description} if description else {})}

    for name, description in scalars.items():
        types[name] = {"kind": "SCALAR", **({"description": description} if description else {})}

    for name, fields in args.items():
        owner, field = _args_owner(name, types)
        types[owner]["fields"][field]["args"] = {k: v["type"] for k, v in fields.items()}
    return dict(sorted(types.items()))


def _with_description(entry: dict, obj: dict) -> dict:
    if obj["description"]:
        entry["description"] = obj["description"]
    return entry


def _args_owner(name: str, types: dict) -> tuple[str, str]:
    """`QueryOrganizationMembershipsArgs` -> ("Query", "organizationMemberships")."""
    stem = name.removesuffix("Args")
    for cut in range(len(stem) - 1, 0, -1):
        owner, rest = stem[:cut], stem[cut:]
        field = rest[0].lower() + rest[1:]
        if types.get(owner, {}).get("kind") == "OBJECT" and field in types[owner]["fields"]:
            return owner, field
    raise ValueError(f"{name}: no object type has the field these arguments belong to")


def fetch(version: str, workdir: Path) -> Path:
    """`npm pack` the package into workdir, unpack it, and return the types file."""
    subprocess.run(
        ["npm", "pack", f"{PACKAGE}@{version}", "--pack-destination", str(workdir), "--silent"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    tarball = next(workdir.glob("*.tgz"))
    with tarfile.open(tarball) as archive:
        member = archive.getmember(f"package/{TYPES_FILE}")
        archive.extractall(workdir, members=[member], filter="data")
    return workdir / "package" / TYPES_FILE


def changes(old: dict, new: dict) -> list[str]:
    """One line per type added, removed or changed between two extractions."""
    lines = [f"+ {name}" for name in sorted(set(new) - set(old))]
    lines += [f"- {name}" for name in sorted(set(old) - set(new))]
    lines += [f"~ {name}" for name in sorted(set(old) & set(new)) if old[name] != new[name]]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Extract, write the JSON file, and print what changed since the last extraction."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=VERSION)
    parser.add_argument("--package-dir", type=Path, help="an unpacked package (skips npm)")
    parser.add_argument("--out", type=Path, default=OUT)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if options.package_dir:
            path = options.package_dir / TYPES_FILE
        else:
            path = fetch(options.version, Path(tmp))
        text = path.read_text(encoding="utf-8")
    types = parse(text)
    data = {
        "source": {
            "package": PACKAGE,
            "version": options.version,
            "file": TYPES_FILE,
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "made_by": "python -m tools.widgets_schema",
        },
        "types": types,
    }
    old = json.loads(options.out.read_text()) if options.out.exists() else {"types": {}}
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    before = old.get("source", {}).get("version", "nothing")
    print(f"{len(types)} types from {PACKAGE}@{options.version} -> {options.out}")
    diff = changes(old["types"], types)
    print(f"changed since {before}: {len(diff)} type(s)", *diff, sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
