"""The layers of docs/architecture.md, read from the source with the standard library's
``ast``: every import statement counts, at module level or inside a function.

Below the pages, from the bottom: infra, notifications (the mail machinery), couples
(accounts and the couple space), privacy, agreements, checkins, charter, onboarding,
reports. Pages (``*/pages.py``) and ``tend/`` (the composition root, the CLI, the web face,
the demo) stand above them all and are not checked here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Bottom first; a module may import its own package and the packages before it.
LAYERS = (
    "infra",
    "notifications",
    "couples",
    "privacy",
    "agreements",
    "checkins",
    "charter",
    "onboarding",
    "reports",
)
TOP = ("tend",)
PRODUCT = set(LAYERS) | set(TOP)
RANK = {package: rank for rank, package in enumerate(LAYERS)}

# The one import by name below the pages: the bottom knows the composition root's name,
# so that every process that reads a registry sees all of it (infra/composition.py).
DYNAMIC_IMPORTS_ALLOWED = {"infra.composition"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def below_the_pages() -> Iterator[tuple[str, ast.Module]]:
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "pages.py":
                continue
            yield module_name(path), ast.parse(path.read_text(), str(path))


def imported(module: str, tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Every module named by an import statement anywhere in ``tree``, with its line."""
    package = module if module.count(".") == 0 else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            yield base, node.lineno
            for alias in node.names:  # "from checkins import rounds" names a module too
                yield f"{base}.{alias.name}", node.lineno


def dynamic_imports(tree: ast.Module) -> Iterator[int]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name in ("import_module", "__import__"):
                yield node.lineno


def product_edges() -> Iterator[tuple[str, str, str, int]]:
    """(importing module, its package, imported product package, line)."""
    for module, tree in below_the_pages():
        own = module.split(".")[0]
        for target, line in imported(module, tree):
            top = target.split(".")[0]
            if top in PRODUCT:
                yield module, own, target, line


def is_page(target: str) -> bool:
    return target.split(".")[-1] == "pages"


def test_the_walk_sees_every_package_and_the_kernel_modules() -> None:
    modules = {module for module, _ in below_the_pages()}
    for expected in ("infra.db", "couples.accounts", "notifications.outbox", "checkins.answers"):
        assert expected in modules
    # Every package with an __init__ is placed in a layer or at the top.
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - PRODUCT <= {"tests", "benchmarks", "scripts", "migrations"}


def test_infra_imports_no_product_package() -> None:
    bad = [
        f"{module}:{line} imports {target}"
        for module, own, target, line in product_edges()
        if own == "infra" and target.split(".")[0] != "infra"
    ]
    assert bad == []


def test_no_module_below_the_pages_imports_a_layer_above_it() -> None:
    bad = [
        f"{module}:{line} imports {target}"
        for module, own, target, line in product_edges()
        if target.split(".")[0] in TOP or is_page(target) or RANK[target.split(".")[0]] > RANK[own]
    ]
    assert bad == []


def test_no_import_cycle_among_the_packages_below_the_pages() -> None:
    graph: dict[str, set[str]] = {package: set() for package in LAYERS}
    for _, own, target, _ in product_edges():
        top = target.split(".")[0]
        if top != own and top in graph:
            graph[own].add(top)

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return [*path, nxt]
                if nxt not in path:
                    stack.append((nxt, [*path, nxt]))
        return None

    cycles = [c for c in map(cycle_from, LAYERS) if c]
    assert cycles == []


def test_the_only_import_by_name_below_the_pages_is_the_composition_root() -> None:
    found = {
        f"{module}:{line}" for module, tree in below_the_pages() for line in dynamic_imports(tree)
    }
    assert {entry.partition(":")[0] for entry in found} <= DYNAMIC_IMPORTS_ALLOWED
    composition = ast.parse((ROOT / "infra" / "composition.py").read_text())
    roots = [
        node.value.value
        for node in ast.walk(composition)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and any(getattr(t, "id", "") == "COMPOSITION_ROOT" for t in node.targets)
    ]
    assert roots == ["tend.registry"]


def test_the_demo_is_out_of_the_kernel() -> None:
    assert not (ROOT / "couples" / "demo.py").exists()
    assert (ROOT / "tend" / "demo.py").exists()
    below = [module for module, _ in below_the_pages()]
    assert [m for m in below if m.endswith(".demo")] == []


def registering_calls(module: str, tree: ast.Module) -> list[str]:
    """Calls at module level (or in a module-level loop) to register/install something in
    a registry defined elsewhere."""
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)}
    found = []
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for node in ast.walk(statement):
            if not isinstance(node, ast.Call):
                continue
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if (name.startswith("register_") or name == "install") and name not in defined:
                found.append(name)
    return found


def test_every_module_that_registers_is_listed_in_the_composition_root() -> None:
    registry = ast.parse((ROOT / "tend" / "registry.py").read_text())
    listed = {
        alias.name for node in registry.body if isinstance(node, ast.Import) for alias in node.names
    }
    registering = {module for module, tree in below_the_pages() if registering_calls(module, tree)}
    assert "checkins.planners" in registering  # the walk finds them
    assert registering - listed == set()


def test_a_bad_import_would_be_caught() -> None:
    """The checks above read these edges; an upward import shows as one."""
    tree = ast.parse("def f():\n    from checkins import rounds\n")
    assert ("checkins.rounds", 2) in set(imported("notifications.outbox", tree))
