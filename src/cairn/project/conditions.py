"""Whether a block runs: its trigger rule over its parents' outcomes, and `run_if`.

A block that does not run is `upstream_failed` (a parent failed and the rule cares) or
`skipped` (with the reason), and a skipped parent does not fail its children unless the
rule says so.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal

TriggerRule = Literal["all_success", "all_done", "one_success", "none_failed"]
# A cancelled parent stops its children as a failed one does: the user stopped the run.
FAILED = ("failed", "upstream_failed", "cancelled")


def gate(rule: TriggerRule, parents: Mapping[str, str],
         closed: Collection[str] = ()) -> tuple[str, str] | None:
    """None when the block should run, else (status, reason), from the parents' statuses
    (`success`, `failed`, `upstream_failed` or `skipped`; a closed condition is `skipped`,
    and named in `closed`: it ran, and its answer was false)."""
    failed = [p for p, s in parents.items() if s in FAILED]
    skipped = [p for p, s in parents.items() if s == "skipped"]
    if rule == "all_done" or not parents:
        return None
    if rule == "one_success":
        if any(s == "success" for s in parents.values()):
            return None
        if failed:
            return ("upstream_failed",
                    f"not run: no upstream block succeeded ({', '.join(failed)} failed)")
        return "skipped", "not run: no upstream block succeeded (all were skipped)"
    if failed:
        how = "was cancelled" if all(parents[p] == "cancelled" for p in failed) else "failed"
        return "upstream_failed", f"not run: upstream block {', '.join(failed)} {how}"
    if skipped and rule == "all_success":
        false = [p for p in skipped if p in closed]
        if false:
            return "skipped", f"not run: the condition {', '.join(false)} was false"
        return "skipped", f"not run: upstream block {', '.join(skipped)} was skipped"
    return None


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not,
}
_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Mod: operator.mod,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"len": len, "min": min, "max": max, "abs": abs,
                                             "bool": bool, "int": int, "float": float,
                                             "str": str}


def check_expression(expression: str) -> ast.Expression:
    """Parse a `run_if`; only comparisons, boolean logic, arithmetic, names, constants,
    subscripts and a few functions (len, min, max, abs, bool, int, float, str)."""
    tree = ast.parse(expression.strip(), mode="eval")
    allowed = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub,
               ast.Compare, ast.BinOp, ast.Name, ast.Load, ast.Constant, ast.Subscript,
               ast.Tuple, ast.List, ast.Call, *_COMPARE, *_ARITHMETIC)
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            raise ValueError(f"`{type(node).__name__}` is not allowed in run_if")
        if isinstance(node, ast.Call) and not (
                isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
                and not node.keywords):
            raise ValueError("run_if may only call " + ", ".join(_FUNCTIONS))
    return tree


def evaluate(expression: str, lookup: Callable[[str], Any]) -> bool:
    """The truth of a `run_if`; `lookup` gives run variables and upstream outputs."""

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return _FUNCTIONS[node.id] if node.id in _FUNCTIONS else lookup(node.id)
        if isinstance(node, ast.BoolOp):
            results = (value(v) for v in node.values)
            return all(results) if isinstance(node.op, ast.And) else any(results)
        if isinstance(node, ast.UnaryOp):
            operand = value(node.operand)
            return (not operand) if isinstance(node.op, ast.Not) else -operand
        if isinstance(node, ast.Compare):
            left = value(node.left)
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = value(comparator)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.BinOp):
            return _ARITHMETIC[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.Subscript):
            return value(node.value)[value(node.slice)]
        if isinstance(node, ast.Tuple | ast.List):
            return [value(e) for e in node.elts]
        if isinstance(node, ast.Call):
            return value(node.func)(*(value(a) for a in node.args))
        raise ValueError(f"`{type(node).__name__}` is not allowed in run_if")

    return bool(value(check_expression(expression)))
