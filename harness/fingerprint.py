"""Code fingerprints: which Python source a stage key (and a feature-cache key) names.

A module's hash is the sha256 of its AST (`canonical_dump`, no line numbers) with every bare string statement
(docstrings, attribute docstrings) removed: a comment or docstring edit changes nothing, any code edit
changes it. Modules are located with `importlib.util.find_spec` on the top-level name and read from disk,
never imported, so planning stays free of torch. A stage's code is the union of module closures
(`import`/`from` statements anywhere in a module, followed within chosen top-level packages):

- the engine: harness modules reachable from `ENGINE_ROOTS`, the kinds' and metrics' modules (from their
  entry points) and the baseline plugin (a plugin's own package is followed too), minus `NOT_ENGINE`;
- each task: the module holding its TaskSpec (from its entry point), the modules of every "module:function"
  string in the spec or its settings, each followed within its own top-level package, plus the spec's content.

File hashes are cached per (path, mtime, size) for the process; inside `pinned()` (one plan) each file is
checked once and each closure computed once.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

ENGINE_ROOTS = ("harness.stages", "harness.execute")
"""Where every stage's code starts; the stage's kind, metric and baseline modules are added to these."""
ENGINE_PACKAGE = "harness"
NOT_ENGINE = ("harness.cli", "harness.report", "harness.executors")
"""Packages that never change a result (commands, reports, where a stage runs): not followed."""
_FUNCTION_REF = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class _Source:
    stamp: tuple[int, int]
    digest: str
    imports: tuple[str, ...]
    """Absolute names that may be modules: `import a.b` -> a.b; `from a import b` -> a, a.b."""


_SOURCES: dict[tuple[Path, str], _Source] = {}
_pin: dict[Any, Any] | None = None


@contextmanager
def pinned() -> Iterator[None]:
    """Treat files as unchanged inside the block (one plan): each is statted once, each closure built once."""
    global _pin
    outer = _pin
    _pin = {} if outer is None else outer
    try:
        yield
    finally:
        _pin = outer


def _memo(key: Any, compute: Any) -> Any:
    if _pin is None:
        return compute()
    if key not in _pin:
        _pin[key] = compute()
    return _pin[key]


def digest(text: str, n: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


_BLOCKS = (ast.stmt, ast.Module, ast.ExceptHandler, ast.match_case)


def _is_string(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _strip_block(node: ast.AST) -> None:
    """Drop the bare string statements (docstrings) of a node's bodies; an emptied body becomes `pass`."""
    for name in ("body", "orelse", "finalbody"):
        body = getattr(node, name, None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt) and any(map(_is_string, body)):
            kept = [s for s in body if not _is_string(s)]
            setattr(node, name, kept or ([ast.Pass()] if name == "body" else []))


def _from_names(node: ast.ImportFrom, package: str) -> list[str]:
    """`from base import a, b` -> base, base.a, base.b (relative bases resolved against `package`)."""
    base = node.module or ""
    if node.level:
        parts = package.split(".") if package else []
        parent = parts[: max(len(parts) - node.level + 1, 0)]
        base = ".".join([*parent, base] if base else parent)
    if not base:
        return []
    return [base, *(f"{base}.{a.name}" for a in node.names if a.name != "*")]


def _strip_and_collect(tree: ast.AST, package: str) -> tuple[str, ...]:
    """Remove docstrings from `tree` in place; return every name an import statement (at any level) may
    bring in: `import a.b` -> a.b; `from a import b` -> a, a.b."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.extend(_from_names(node, package))
        if isinstance(node, _BLOCKS):
            _strip_block(node)
    return tuple(dict.fromkeys(found))


def canonical_dump(node: Any) -> str:
    """The AST as text, the same on every Python version that parses the code alike: fields a newer Python
    adds empty (e.g. 3.12's `type_params=[]`) or leaves out (3.13 omits None) are skipped, unlike `ast.dump`,
    so a stage key does not depend on the interpreter (the docker executor re-plans inside the image)."""
    if isinstance(node, ast.AST):
        fields = (f"{name}={canonical_dump(value)}" for name, value in ast.iter_fields(node)
                  if value is not None and value != [])
        return f"{type(node).__name__}({','.join(fields)})"
    if isinstance(node, list):
        return "[" + ",".join(canonical_dump(v) for v in node) + "]"
    return repr(node)


def source_hash(path: Path) -> str:
    """Hash of a Python file's code (docstrings and comments do not count)."""
    return _source(path, "", False).digest


def _source(path: Path, module: str, is_package: bool) -> _Source:
    def load() -> _Source:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
        cached = _SOURCES.get((path, module))
        if cached is not None and cached.stamp == stamp:
            return cached
        text = path.read_bytes()
        try:
            tree = ast.parse(text, filename=str(path))
        except (SyntaxError, ValueError):  # hashed as bytes; running it will say what is wrong
            found = _Source(stamp, "raw-" + hashlib.sha256(text).hexdigest()[:16], ())
        else:
            imports = _strip_and_collect(tree, module if is_package else module.rpartition(".")[0])
            found = _Source(stamp, digest(canonical_dump(tree)), imports if module else ())
        _SOURCES[(path, module)] = found
        return found

    return _memo(("source", path, module), load)


def locate(module: str) -> Path | None:
    """The source file of `module` (a package's __init__.py), found without importing anything."""
    return _memo(("locate", module), lambda: _locate(module))


def _locate(module: str) -> Path | None:
    top, *rest = module.split(".")
    try:
        spec = find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    origin = Path(spec.origin) if spec.origin and spec.has_location else None
    dirs = [Path(d) for d in (spec.submodule_search_locations or ())]
    for part in rest:
        origin, found_dirs = None, []
        for directory in dirs:
            if (directory / part / "__init__.py").is_file():
                origin, found_dirs = directory / part / "__init__.py", [directory / part]
                break
            if (directory / f"{part}.py").is_file():
                origin = directory / f"{part}.py"
                break
            if (directory / part).is_dir():
                found_dirs.append(directory / part)  # a namespace package
        dirs = found_dirs
        if origin is None and not dirs:
            return None
    return origin if origin is not None and origin.suffix == ".py" else None


def _excluded(module: str, exclude: Iterable[str]) -> bool:
    return any(module == e or module.startswith(e + ".") for e in exclude)


def closure(roots: Iterable[str], packages: Iterable[str], exclude: Iterable[str] = ()) -> dict[str, str]:
    """{module: hash} of `roots` and every module they import, transitively, within top-level `packages`.

    Parent packages count too (their __init__ runs); names that are not modules are skipped.
    """
    roots, packages, exclude = tuple(roots), frozenset(packages), tuple(exclude)
    return _memo(("closure", roots, packages, exclude), lambda: _closure(roots, packages, exclude))


def _closure(roots: tuple[str, ...], packages: frozenset[str], exclude: tuple[str, ...]) -> dict[str, str]:
    seen: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name.partition(".")[0] not in packages or _excluded(name, exclude):
            continue
        path = locate(name)
        if path is None:
            continue
        source = _source(path, name, path.name == "__init__.py")
        seen[name] = source.digest
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(source.imports)
    return dict(sorted(seen.items()))


def engine_modules(roots: Iterable[str] = ()) -> dict[str, str]:
    """The harness modules on a stage's path: `ENGINE_ROOTS` plus `roots`, followed inside harness only."""
    return closure((*ENGINE_ROOTS, *roots), {ENGINE_PACKAGE}, NOT_ENGINE)


def code_modules(module: str) -> dict[str, str]:
    """`module` and what it imports inside its own package and the engine (a kind, a baseline plugin)."""
    return closure((module,), {module.partition(".")[0], ENGINE_PACKAGE}, NOT_ENGINE)


def plugin_module(what: str, name: str, obj: Any = None) -> str | None:
    """The module named by the entry point of plugin `name` (or, failing that, the one that loads `obj`)."""
    from harness import registry

    found = registry.entry_point(what, name)
    if found is not None:
        return found.module
    if obj is not None:
        for other in registry.names(what):
            if registry.get(what, other) is obj:
                return registry.entry_point(what, other).module
    return None


def _content(spec: Any) -> tuple[Any, str]:
    """(JSON-like content, canonical JSON) of a spec; memoised by identity inside `pinned()`."""

    def compute() -> tuple[Any, Any, str]:
        content = asdict(spec) if is_dataclass(spec) and not isinstance(spec, type) else spec
        return spec, content, json.dumps(content, sort_keys=True, default=repr)

    kept, content, blob = _memo(("content", id(spec)), compute)
    if kept is not spec:  # an id reused by another object
        _, content, blob = compute()
    return content, blob


def _function_refs(value: Any) -> Iterator[str]:
    """Every "module:function" string inside a JSON-like tree."""
    if isinstance(value, str):
        if _FUNCTION_REF.match(value):
            yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _function_refs(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _function_refs(v)


def task_code(spec: Any, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """{"spec": content hash, "modules": {module: hash}} of a TaskSpec (and settings that override its own)."""
    content, blob = _content(spec)
    settings_blob = json.dumps(settings or {}, sort_keys=True, default=repr)

    def compute() -> dict[str, Any]:
        roots = [m for m in [plugin_module("task", spec.name, spec)] if m]
        roots += [ref.partition(":")[0] for ref in _function_refs([content, dict(settings or {})])]
        modules: dict[str, str] = {}
        for root in dict.fromkeys(roots):
            modules.update(closure((root,), {root.partition(".")[0]}))
        return {"spec": digest(blob), "modules": dict(sorted(modules.items()))}

    return _memo(("task", blob, settings_blob), compute)


def task_fingerprint(spec: Any, settings: Mapping[str, Any] | None = None) -> str:
    return fingerprint(task_code(spec, settings))


def kind_module(kind: str) -> str | None:
    """The module of the kind registered as `kind` (None when unknown), from its entry point."""
    return plugin_module("kind", kind)


def metric_module(metric: str) -> str | None:
    """The module of the metric registered as `metric` (None when unknown), from its entry point."""
    return plugin_module("metric", metric)


def fingerprint(code: Mapping[str, Any]) -> str:
    """One hash of a code record (modules and spec hashes)."""
    return digest(json.dumps(code, sort_keys=True))


def stage_code(tasks: Iterable[tuple[Any, Mapping[str, Any]]], baseline: str | None = None,
               augmentation: str | None = None) -> dict[str, Any]:
    """The code record of a stage over `tasks` ((spec, effective settings) pairs) and optional baseline and
    augmentation plugins: {"fingerprint", "modules": {module: hash}, "specs": {task: content hash}}."""
    tasks = list(tasks)
    roots = [m for spec, _ in tasks for m in (kind_module(spec.kind), metric_module(spec.metric)) if m]
    modules = dict(engine_modules(roots))
    for module in dict.fromkeys(roots):  # a third-party kind or metric: its own package too
        if module.partition(".")[0] != ENGINE_PACKAGE:
            modules.update(code_modules(module))
    for what, name in (("baseline", baseline), ("augmentation", augmentation)):
        if name and (module := plugin_module(what, name)):
            modules.update(code_modules(module))
    specs: dict[str, str] = {}
    for spec, settings in tasks:
        code = task_code(spec, settings)
        modules.update(code["modules"])
        specs[spec.name] = code["spec"]
    record = {"modules": dict(sorted(modules.items())), "specs": dict(sorted(specs.items()))}
    return {"fingerprint": fingerprint(record), **record}
