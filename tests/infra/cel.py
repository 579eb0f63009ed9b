"""A small evaluator of the CEL that IAM conditions here are written in, to test what they admit.

IAM conditions and Workload Identity attribute conditions are CEL (Common Expression Language). The
ones in this repository use a small part of it: `&&`, `||`, `!`, `==`, `!=`, string literals, `+`
on strings, field access (`assertion.repository_id`, `resource.name`) and `.startsWith(...)`. That
part is parsed here by Python's own parser after spelling its operators the Python way, and anything
else is refused, so a condition that leaves the subset fails its test instead of passing untested.
Semantics as CEL's where they matter: a missing field is an error, and IAM and STS treat an error
as false (the grant or token does not apply).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

_TOKENS = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|&&|\|\||!(?!=)|[^'"&|!]+|!=|.""")


class CelError(Exception):
    """The expression leaves the supported subset, or reads a field the input lacks."""


def _pythonic(expression: str) -> str:
    spelled = []
    for token in _TOKENS.findall(expression):
        if token.startswith(("'", '"')):
            spelled.append(token)
        elif token == "&&":
            spelled.append(" and ")
        elif token == "||":
            spelled.append(" or ")
        elif token == "!":
            spelled.append(" not ")
        else:
            spelled.append(token)
    return "".join(spelled)


def evaluate(expression: str, variables: Mapping[str, Mapping[str, Any]]) -> bool:
    """True when `expression` holds for `variables` (e.g. {"resource": {"name": ...}}).

    An expression that errors (a missing field) is false, as IAM and STS treat it.
    """
    try:
        tree = ast.parse(_pythonic(expression).strip(), mode="eval")
    except SyntaxError as error:
        raise CelError(f"not in the supported CEL subset: {expression!r}") from error
    try:
        result = _value(tree.body, variables)
    except KeyError:
        return False
    if not isinstance(result, bool):
        raise CelError(f"not a condition (evaluates to {result!r}): {expression!r}")
    return result


def _value(node: ast.expr, variables: Mapping[str, Mapping[str, Any]]) -> Any:
    if isinstance(node, ast.BoolOp):
        values = (_value(item, variables) for item in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _value(node.operand, variables)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, right = _value(node.left, variables), _value(node.comparators[0], variables)
        if isinstance(node.ops[0], ast.Eq):
            return left == right
        if isinstance(node.ops[0], ast.NotEq):
            return left != right
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _value(node.left, variables), _value(node.right, variables)
        if isinstance(left, str) and isinstance(right, str):
            return left + right
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        scope = variables.get(node.value.id)
        if scope is None:
            raise CelError(f"unknown variable {node.value.id!r}")
        return scope[node.attr]  # KeyError: a missing field, an error in CEL
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "startsWith"
        and len(node.args) == 1
        and not node.keywords
    ):
        subject, prefix = _value(node.func.value, variables), _value(node.args[0], variables)
        if isinstance(subject, str) and isinstance(prefix, str):
            return subject.startswith(prefix)
    raise CelError(f"not in the supported CEL subset: {ast.unparse(node)!r}")
