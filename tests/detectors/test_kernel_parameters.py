"""No numba kernel assigns to a parameter that bounds one of its loops.

Numba does not check bounds: a kernel that reused a parameter's name for something else read
past the end of its batch. `_process_part`'s kitchen rule once named the heat's stop time
`stop`, the loop's bound, so the prefetch look-ahead (`ahead < stop`) read up to 16 slots past
the batch and the process now and then died with a segmentation fault.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DETECTORS = Path(__file__).resolve().parents[2] / "detectors"


def _is_kernel(node: ast.FunctionDef) -> bool:
    for d in node.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name in {"njit", "jit"}:
            return True
    return False


def _assigned(node: ast.FunctionDef) -> set[str]:
    names: set[str] = set()
    for sub in ast.walk(node):
        targets: list[ast.expr] = []
        if isinstance(sub, ast.Assign):
            targets = list(sub.targets)
        elif isinstance(sub, (ast.AugAssign, ast.AnnAssign, ast.For)):
            targets = [sub.target]
        for target in targets:
            names |= _bound(target)
    return names


def _bound(target: ast.expr) -> set[str]:
    """Names a target rebinds (`x`, `x, y`), not the arrays it writes into (`x[i]`)."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_bound(e) for e in target.elts))
    if isinstance(target, ast.Starred):
        return _bound(target.value)
    return set()


def kernels() -> list[tuple[str, ast.FunctionDef]]:
    found = []
    for path in sorted(DETECTORS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.FunctionDef) and _is_kernel(node):
                found.append((f"{path.name}:{node.name}", node))
    return found


def test_the_kernels_are_found() -> None:
    names = {name for name, _ in kernels()}
    assert {"kernels.py:_process_part", "kernels.py:process_rows"} <= names


def _loop_bounds(node: ast.FunctionDef) -> set[str]:
    """Names in the arguments of the kernel's `range(...)` and `prange(...)` calls."""
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and getattr(sub.func, "id", "") in {"range", "prange"}:
            names |= {n.id for a in sub.args for n in ast.walk(a) if isinstance(n, ast.Name)}
    return names


@pytest.mark.parametrize(("name", "node"), kernels(), ids=[n for n, _ in kernels()])
def test_no_kernel_assigns_to_a_parameter_that_bounds_a_loop(
    name: str, node: ast.FunctionDef
) -> None:
    params = {a.arg for a in node.args.args + node.args.posonlyargs + node.args.kwonlyargs}
    assert not params & _loop_bounds(node) & _assigned(node), name
