"""WorkOS's published Widgets REST API (`/_widgets/*`), extracted from `@workos-inc/widgets`.

    .venv/bin/python -m tools.widgets_rest [--version X.Y.Z] [--package-dir DIR]

Runs `npm pack` for the pinned version into a temporary directory and reads the client orval
generated from WorkOS's API description: `dist/esm/api/endpoint.js` (each `useXHook` calls
the API client with a url, a method and its params or data) and `endpoint.d.ts` (each hook's
signature, each operation's typed errors, and every request and answer type). Writes every
endpoint and type to tests/data/workos_widgets_rest.json in the grammar of tools/ts_types.py;
the conformance test reads that file, so the test itself needs no npm. Re-running with a new
version prints what changed. Statements of a kind not listed in `declarations` fail the run.
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

from tools.ts_types import ParseError, Parser, Token, resolve_values, statements, tokenize

PACKAGE = "@workos-inc/widgets"
VERSION = "1.18.0"
JS_FILE = "dist/esm/api/endpoint.js"
TYPES_FILE = "dist/esm/api/endpoint.d.ts"
OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "workos_widgets_rest.json"

HOOK = re.compile(r"^use(\w+)Hook$")
# Types orval derives from a hook for its React wrappers: `{Op}MutationResult` etc.
DERIVED = ("MutationResult", "QueryResult", "MutationBody", "MutationError", "QueryError")
STATUS_SUFFIX = re.compile(r"^(\w+?)(\d{3})$")
CALL_KEYS = {"url", "method", "headers", "params", "data", "signal"}
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def declarations(text: str) -> tuple[dict, dict]:
    """endpoint.d.ts -> ({operation: signature and errors}, {type name: type node})."""
    found = statements(tokenize(text))
    operations: dict[str, dict] = {}
    for tokens in found:
        hook = HOOK.match(tokens[2].text) if len(tokens) > 2 else None
        if _words(tokens, 2) == ["declare", "const"] and hook:
            operations[hook[1]] = {}
    types: dict[str, dict] = {}
    consts: dict[str, list[str]] = {}
    for tokens in found:
        parser = Parser(tokens)
        head = _words(tokens, 2)
        if head[0] in ("import", "export"):
            continue  # module plumbing
        if head == ["declare", "function"] and _belongs_to_hook(tokens[2].text, operations):
            continue  # the React hooks themselves
        if head == ["declare", "const"]:
            name = tokens[2].text
            hook = HOOK.match(name)
            if hook:
                operations[hook[1]].update(_hook_signature(parser))
            elif _belongs_to_hook(name, operations):
                continue  # useXMutationOptions, getXQueryKey, ...: derived from the hook
            else:
                parser.pos = 3
                parser.expect(":")
                consts[name] = parser.enum_body()
                parser.expect(";")
                parser.done()
            continue
        if head[0] == "type":
            parser.pos = 1
            name = parser.ident()
            parser.expect("=")
            derived = next((s for s in DERIVED if name.endswith(s)), None)
            if derived and name.removesuffix(derived) in operations:
                op = name.removesuffix(derived)
                if derived.endswith("Error"):
                    operations[op]["errors"] = _errors(parser, op)
                continue  # results and bodies repeat the hook's signature
            types[name] = parser.type_expr()
            parser.expect(";")
            parser.done()
            continue
        if head[0] == "interface":
            parser.pos = 1
            name = parser.ident()
            parser.expect("{")
            types[name] = parser.object_body()
            parser.done()
            continue
        raise ParseError(f"line {tokens[0].line}: unexpected statement {' '.join(head)!r}")
    types = {name: resolve_values(node, consts) for name, node in types.items()}
    for op, spec in operations.items():
        if "errors" not in spec:
            raise ParseError(f"{op}: no {op}MutationError or {op}QueryError type")
    return operations, dict(sorted(types.items()))


def _words(tokens: list[Token], n: int) -> list[str]:
    return [t.text for t in tokens[:n]]


def _belongs_to_hook(name: str, operations: dict) -> bool:
    """`useMembersQueryOptions`, `getMembersQueryKey`, `useMembers`, ... for a known operation."""
    stem = re.sub(r"^(use|get)", "", name)
    stem = re.sub(r"(MutationOptions|QueryOptions|QueryKey)$", "", stem)
    return stem in operations


def _hook_signature(parser: Parser) -> dict:
    """`: () => (userId: string, body: BodyType<X>, params?: P, signal?) => Promise<R>`."""
    parser.pos = 3
    for text in (":", "(", ")", "=>", "("):
        parser.expect(text)
    args: list[tuple[str, bool, dict]] = []
    while not parser.accept(")"):
        name = parser.ident()
        optional = parser.accept("?")
        parser.expect(":")
        if parser.accept("BodyType"):
            parser.expect("<")
            kind = {"kind": "body", "of": parser.type_expr()}
            parser.expect(">")
        elif parser.accept("AbortSignal"):
            kind = {"kind": "signal"}
        else:
            kind = parser.type_expr()
        args.append((name, optional, kind))
        if not parser.at(")"):
            parser.expect(",")
    for text in ("=>", "Promise", "<"):
        parser.expect(text)
    response = parser.type_expr()
    parser.expect(">")
    parser.expect(";")
    parser.done()
    spec: dict = {"args": [a[0] for a in args], "path_params": [], "query": None, "body": None}
    for name, optional, kind in args:
        if kind["kind"] == "signal":
            continue
        if kind["kind"] == "body":
            spec["body"] = kind["of"]
        elif name == "params" and kind["kind"] == "ref":
            spec["query"] = kind["name"]
        elif kind == {"kind": "string"} and not optional:
            spec["path_params"].append(name)
        else:
            raise ParseError(f"line {parser.peek().line}: hook argument {name!r} not understood")
    spec["response"] = response
    return spec


def _errors(parser: Parser, op: str) -> dict[str, str]:
    """`ErrorType<Op400 | Op403>` -> {"400": "Op400", "403": "Op403"}; `<unknown>` -> {}."""
    parser.expect("ErrorType")
    parser.expect("<")
    node = parser.type_expr()
    parser.expect(">")
    parser.expect(";")
    parser.done()
    if node == {"kind": "unknown"}:
        return {}
    members = node["of"] if node["kind"] == "union" else [node]
    errors = {}
    for member in members:
        named = STATUS_SUFFIX.match(member.get("name", ""))
        if member["kind"] != "ref" or not named or named[1] != op:
            raise ParseError(f"{op}: error type {member} not named {op}<status>")
        errors[named[2]] = member["name"]
    return errors


def calls(text: str) -> dict[str, dict]:
    """endpoint.js -> {operation: {method, url parts, arguments, sends_params, sends_data}}."""
    tokens = tokenize(text)
    found = {}
    for i, token in enumerate(tokens):
        hook = HOOK.match(token.text) if token.kind == "ident" else None
        if not hook or tokens[i - 1].text != "const":
            continue
        parser = Parser(tokens[i + 1 :])
        for step in ("=", "(", ")", "=>", "{", "const"):
            parser.expect(step)
        client = parser.ident()
        for step in ("=", "useWidgetsApiClient", "(", ")", ";", "return", "useCallback", "("):
            parser.expect(step)
        parser.expect("(")
        args = []
        while not parser.accept(")"):
            args.append(parser.ident())
            parser.accept(",")
        for step in ("=>", "{", "return", client, "(", "{"):
            parser.expect(step)
        found[hook[1]] = {"args": args, **_call_object(parser)}
    return found


def _call_object(parser: Parser) -> dict:
    """The `{url, method, headers?, params?, data?, signal}` given to the API client."""
    seen: dict = {}
    while not parser.accept("}"):
        key = parser.ident()
        if key not in CALL_KEYS or key in seen:
            parser.fail(f"client call key {key!r} not understood")
        if parser.accept(":"):
            value = parser.next()
            if value.text == "{":  # headers: a literal object, skipped to its end
                depth = 1
                while depth:
                    t = parser.next()
                    if t.kind == "end":
                        parser.fail("headers not closed")
                    depth += {"{": 1, "}": -1}.get(t.text, 0) if t.kind == "punct" else 0
            seen[key] = value
        else:
            seen[key] = None  # shorthand `params`, `signal`
        if not parser.accept(","):
            parser.expect("}")
            break
    if "url" not in seen or seen["url"].kind != "template":
        parser.fail("client call without a template url")
    if "method" not in seen or seen["method"].kind != "string":
        parser.fail("client call without a method")
    method = seen["method"].value
    if method not in METHODS:
        parser.fail(f"method {method!r} not understood")
    url = seen["url"].text[1:-1]
    if not re.fullmatch(r"(?:[\w\-./]|\$\{\w+\})+", url):
        parser.fail(f"url {url!r} not understood")
    return {
        "method": method,
        "path": re.sub(r"\$\{(\w+)\}", r"{\1}", url),
        "path_params": re.findall(r"\$\{(\w+)\}", url),
        "sends_params": "params" in seen,
        "sends_data": "data" in seen,
    }


def endpoints(js_text: str, dts_text: str) -> tuple[dict, dict]:
    """Both files, cross-checked: ({operation: endpoint}, {type name: type node})."""
    ops, types = declarations(dts_text)
    made = calls(js_text)
    if set(ops) != set(made):
        raise ParseError(f"hooks differ between the files: {sorted(set(ops) ^ set(made))}")
    result = {}
    for op in sorted(ops):
        sig, call = ops[op], made[op]
        if sig["args"] != call["args"] or sig["path_params"] != call["path_params"]:
            raise ParseError(f"{op}: arguments {sig['args']} typed, {call['args']} called")
        if (sig["query"] is not None) != call["sends_params"]:
            raise ParseError(f"{op}: query params typed and sent disagree")
        if (sig["body"] is not None) != call["sends_data"]:
            raise ParseError(f"{op}: body typed and sent disagree")
        for name in [sig["query"], *sig["errors"].values()]:
            if name is not None and name not in types:
                raise ParseError(f"{op}: type {name} not declared")
        result[op] = {
            "method": call["method"],
            "path": call["path"],
            "path_params": call["path_params"],
            "query": sig["query"],
            "body": sig["body"],
            "response": sig["response"],
            "errors": sig["errors"],
        }
    return result, types


def fetch(version: str, workdir: Path) -> Path:
    """`npm pack` the package into workdir, unpack the two files, and return the package root."""
    subprocess.run(
        ["npm", "pack", f"{PACKAGE}@{version}", "--pack-destination", str(workdir), "--silent"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    tarball = next(workdir.glob("*.tgz"))
    with tarfile.open(tarball) as archive:
        members = [archive.getmember(f"package/{name}") for name in (JS_FILE, TYPES_FILE)]
        archive.extractall(workdir, members=members, filter="data")
    return workdir / "package"


def changes(old: dict, new: dict) -> list[str]:
    """One line per endpoint or type added, removed or changed between two extractions."""
    lines = []
    for section in ("endpoints", "types"):
        before, after = old.get(section, {}), new.get(section, {})
        lines += [f"+ {section} {name}" for name in sorted(set(after) - set(before))]
        lines += [f"- {section} {name}" for name in sorted(set(before) - set(after))]
        lines += [
            f"~ {section} {name}"
            for name in sorted(set(before) & set(after))
            if before[name] != after[name]
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Extract, write the JSON file, and print what changed since the last extraction."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=VERSION)
    parser.add_argument("--package-dir", type=Path, help="an unpacked package (skips npm)")
    parser.add_argument("--out", type=Path, default=OUT)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = options.package_dir or fetch(options.version, Path(tmp))
        js_text = (root / JS_FILE).read_text(encoding="utf-8")
        dts_text = (root / TYPES_FILE).read_text(encoding="utf-8")
    found, types = endpoints(js_text, dts_text)
    data = {
        "package": PACKAGE,
        "version": options.version,
        "sha256": {
            JS_FILE: hashlib.sha256(js_text.encode()).hexdigest(),
            TYPES_FILE: hashlib.sha256(dts_text.encode()).hexdigest(),
        },
        "made_by": "python -m tools.widgets_rest",
        "endpoints": found,
        "types": types,
    }
    old = json.loads(options.out.read_text()) if options.out.exists() else {}
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(found)} endpoints, {len(types)} types from {PACKAGE}@{options.version}")
    print(f"  -> {options.out}")
    diff = changes(old, data)
    print(f"changed since {old.get('version', 'nothing')}: {len(diff)}", *diff, sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
