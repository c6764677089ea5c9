"""The shape the code keeps: layers that import downwards only, a flow body that reads as the DAG,
methods and engines as objects rather than branches, and a unit test file beside every module."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO


def imported_modules(path: Path, with_names: bool = False) -> set[str]:
    """The modules a file imports, deferred imports included; `with_names` adds `a.b.c` for each
    `from a.b import c` (c may be a module)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            if with_names:
                names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_curation_imports_nothing_from_tasks_or_flows():
    offenders = {
        str(path.relative_to(REPO)): sorted(m for m in imported_modules(path) if m.split(".")[0] in ("tasks", "flows"))
        for path in (REPO / "curation").rglob("*.py")
    }
    assert {path: found for path, found in offenders.items() if found} == {}


PACKAGES = ("curation", "flows", "tasks")


def module_graph() -> dict[str, set[str]]:
    """Each module of the packages and the package modules it imports, at module level or inside
    functions (a deferred import is still a dependency). `from a.b import c` depends on a.b, and on
    a.b.c when that is a module."""
    paths = {
        p: ".".join(p.relative_to(REPO).with_suffix("").parts) for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")
    }
    modules = {name.removesuffix(".__init__") for name in paths.values()}
    graph = {}
    for path, name in paths.items():
        module = name.removesuffix(".__init__")
        graph[module] = {m for m in imported_modules(path, with_names=True) if m in modules} - {module}
    return graph


def test_no_import_cycle_in_the_packages():
    graph, cycles = module_graph(), []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for other in sorted(graph[module]):
            if state.get(other) == 1:
                cycles.append(path[path.index(other) :] + [module, other] if other in path else [module, other])
            elif other not in state:
                visit(other, [*path, module])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert cycles == []


def test_engines_know_no_scorer_and_the_graph_sees_deferred_imports():
    graph = module_graph()
    assert not {m for m in graph["curation.engines"] if m.startswith("curation.scorers")}
    assert "curation.models.causal_lm" in graph["curation.models.loaded"]  # imported inside load_adapter


def test_no_function_takes_more_than_five_parameters_and_no_call_passes_more_than_five_positionally():
    """Stages pass frozen dataclasses whole (TargetRun, ScoreRequest, Trial, Steps...), not long argument
    lists; a constructor or function called with more than five values names them."""
    found = {}
    for path in [*(REPO / "flows").rglob("*.py"), *(REPO / "tasks").rglob("*.py"), *(REPO / "curation").rglob("*.py")]:
        where = str(path.relative_to(REPO))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a]
                names = [n for n in names if n not in ("self", "cls")]
                if len(names) > 5:
                    found[f"{where}:{node.lineno} def {node.name}"] = len(names)
            elif isinstance(node, ast.Call) and len(node.args) > 5:
                found[f"{where}:{node.lineno} call {ast.unparse(node.func)}"] = len(node.args)
    assert found == {}


def test_tasks_import_nothing_from_flows():
    offenders = {
        str(path.relative_to(REPO)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "flows")
        for path in (REPO / "tasks").glob("*.py")
    }
    assert {path: found for path, found in offenders.items() if found} == {}


def test_the_curate_flow_body_is_a_short_sequence_of_stages():
    """The flow and the two pieces it shares with the several-target flow (one target up to its scores;
    the finetunes and their evaluation) read top to bottom as the stages."""
    tree = ast.parse((REPO / "flows" / "curate.py").read_text())
    parts = [
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in ("curate", "scored_target", "finetuned")
    ]
    assert len(parts) == 3 and all(part.end_lineno - part.lineno + 1 <= 60 for part in parts)
    called = {
        node.func.id
        for part in parts
        for node in ast.walk(part)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert {
        "ingest",
        "read_target",
        "validate_target",
        "validate_pool",
        "warmup",
        "score",
        "select",
        "finetune",
        "evaluate",
        "build_report",
        "publish",
    } <= called


def test_no_method_or_engine_branches_in_the_flows():
    def compares_an_option(node: ast.AST) -> bool:
        if not isinstance(node, ast.Compare):
            return False
        sides = [node.left, *node.comparators]
        named = {s.id for s in sides if isinstance(s, ast.Name)} | {
            s.attr for s in sides if isinstance(s, ast.Attribute)
        }
        return bool(named & {"method", "engine"})

    found = [
        f"{path.name}:{node.lineno}"
        for path in (REPO / "flows").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if compares_an_option(node)
    ]
    assert found == []


def test_every_module_has_a_unit_test_file_at_its_mirrored_path():
    """`X/Y/Z.py` (X: curation, flows, tasks) has `tests/unit/X/Y/test_Z.py`; tests import in
    importlib mode, so two such files may share a basename."""
    modules = sorted(path for pkg in PACKAGES for path in (REPO / pkg).rglob("*.py") if path.name != "__init__.py")
    missing = [
        str(path.relative_to(REPO))
        for path in modules
        if not (REPO / "tests" / "unit" / path.parent.relative_to(REPO) / f"test_{path.name}").is_file()
    ]
    assert len(modules) > 80  # the walk found the code
    assert missing == [], f"modules without tests/unit/<their path>/test_<name>.py: {missing}"


def test_files_fit_on_a_few_screens_and_tasks_are_thin_wrappers():
    """A library module over 300 lines does several jobs; a task module over 120 holds library code."""
    too_long = {
        str(path.relative_to(REPO)): lines
        for folder, limit in (("curation", 300), ("tasks", 120))
        for path in (REPO / folder).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > limit
    }
    assert too_long == {}


def test_no_process_wide_model_cache_and_nothing_sets_an_adapters_warm_key_from_outside():
    """Loaded models belong to a run (`LoadedModels`); an adapter's θT key is set by the adapter alone."""
    outside = []
    for path in sorted((REPO / "curation").rglob("*.py")) + sorted((REPO / "flows").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if isinstance(element, ast.Attribute) and element.attr == "warm_key":
                        owner = element.value
                        if not (isinstance(owner, ast.Name) and owner.id == "self"):
                            outside.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert outside == []
    assert "_LOADED" not in (REPO / "curation" / "models" / "__init__.py").read_text()
