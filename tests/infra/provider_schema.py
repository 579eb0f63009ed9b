"""Checks a resource's recorded (wire, camelCase) inputs against the installed pulumi-gcp SDK.

The SDK is generated from the provider's schema: each `...Args` class has one property per input,
whose getter carries the wire name (`@pulumi.getter(name="alignmentPeriod")`) and whose annotation
names the nested `...Args` type, or the scalar type. Walking them finds a misspelt or misplaced key,
a missing required input, a list where an object belongs, and a wrong scalar type, without the
provider binary (which the offline tests do not have).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import pulumi_gcp

_NESTED = re.compile(r"ForwardRef\('(\w+Args)'\)")
_SCALARS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "bool": (bool,),
    "int": (int,),
    "float": (int, float),
}


def args_class(type_token: str) -> type:
    """gcp:monitoring/alertPolicy:AlertPolicy -> pulumi_gcp.monitoring.AlertPolicyArgs."""
    _, path, class_name = type_token.split(":")
    module: ModuleType = getattr(pulumi_gcp, path.split("/", maxsplit=1)[0])
    found: type = getattr(module, f"{class_name}Args")
    return found


def _properties(cls: type) -> dict[str, tuple[str, str]]:
    """wire name -> (python name, annotation text) for every input of an Args class."""
    found = {}
    for python_name, member in inspect.getmembers(cls):
        if isinstance(member, property) and member.fget is not None:
            wire = getattr(member.fget, "_pulumi_name", python_name)
            annotation = str(member.fget.__annotations__.get("return", ""))
            found[wire] = (python_name, annotation)
    return found


def _required(cls: type) -> set[str]:
    parameters = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    return {
        name
        for name, parameter in parameters.items()
        if name != "__self__" and parameter.default is inspect.Parameter.empty
    }


def _leaf_type(annotation: str) -> str | None:
    # "typing.Union[str, NoneType, ...]" / "typing.Union[float, collections.abc.Awaitable[...]"
    head = re.match(r"typing\.Union\[(\w+),", annotation)
    return head.group(1) if head else None


def problems(type_token: str, inputs: Mapping[str, Any]) -> list[str]:
    return _check(
        args_class(type_token), inputs, type_token, getattr(pulumi_gcp, _module(type_token))
    )


def _module(type_token: str) -> str:
    return type_token.split(":")[1].split("/", maxsplit=1)[0]


def _check(cls: type, value: Mapping[str, Any], path: str, module: ModuleType) -> list[str]:
    found: list[str] = []
    properties = _properties(cls)
    python_names = {python: wire for wire, (python, _) in properties.items()}
    for python in _required(cls):
        wire = python_names.get(python, python)
        if value.get(wire) is None:
            found.append(f"{path}.{wire}: required by {cls.__name__}, missing")
    for key, item in value.items():
        if key not in properties:
            found.append(f"{path}.{key}: not an input of {cls.__name__}")
            continue
        if item is None:
            continue
        found += _check_value(properties[key][1], item, f"{path}.{key}", module)
    return found


def _check_value(annotation: str, item: Any, path: str, module: ModuleType) -> list[str]:
    nested = _NESTED.search(annotation)
    is_list = annotation.startswith("typing.Union[typing.Sequence[")
    is_map = annotation.startswith("typing.Union[typing.Mapping[")
    if is_list:
        if not isinstance(item, list):
            return [f"{path}: expected a list, got {type(item).__name__}"]
        if nested:
            nested_class = getattr(module, nested.group(1))
            return [
                problem
                for index, element in enumerate(item)
                for problem in (
                    _check(nested_class, element, f"{path}[{index}]", module)
                    if isinstance(element, Mapping)
                    else [f"{path}[{index}]: expected an object"]
                )
            ]
        return []
    if is_map:
        return [] if isinstance(item, Mapping) else [f"{path}: expected a map"]
    if nested:
        if not isinstance(item, Mapping):
            return [f"{path}: expected an object of {nested.group(1)}"]
        return _check(getattr(module, nested.group(1)), item, path, module)
    leaf = _leaf_type(annotation)
    allowed = _SCALARS.get(leaf or "")
    if leaf == "int" and isinstance(item, float) and item.is_integer():
        return []  # numbers cross the wire as floats
    if allowed and (not isinstance(item, allowed) or (leaf != "bool" and isinstance(item, bool))):
        return [f"{path}: expected {leaf}, got {item!r}"]
    return []
