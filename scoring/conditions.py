"""Conditions on profile attributes, shared by fit rules and routing rules.

A condition names one attribute and one test. Strings compare case-insensitively because CRMs are
inconsistent about case; ``contains`` matches whole words so that "VP" does not match "SVP Office".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

Scalar = str | int | float | bool
Matcher = Callable[[Mapping[str, Any]], bool]


class Range(BaseModel):
    """An inclusive numeric band; either end may be open."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("a range needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


_OPERATORS = ("equals", "in_", "contains", "range", "exists")


class Condition(BaseModel):
    """``attribute`` plus exactly one of ``equals``, ``in``, ``contains``, ``range``, ``exists``."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    attribute: str = Field(min_length=1)
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in", min_length=1)
    contains: list[str] | None = Field(default=None, min_length=1)
    range: Range | None = None
    exists: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _contains_accepts_one_string(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("contains"), str):
            return {**data, "contains": [data["contains"]]}
        return data

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        used = [name for name in _OPERATORS if getattr(self, name) is not None]
        if len(used) != 1:
            raise ValueError(
                "a condition needs exactly one of equals, in, contains, range, exists"
                + (f" (found {', '.join(u.rstrip('_') for u in used)})" if used else "")
            )
        return self

    def compile(self) -> Matcher:
        """A fast predicate over a profile mapping."""
        name = self.attribute
        if self.exists is not None:
            want = self.exists
            return lambda p: (p.get(name) is not None) == want
        if self.range is not None:
            low = float("-inf") if self.range.min is None else self.range.min
            high = float("inf") if self.range.max is None else self.range.max

            def in_range(p: Mapping[str, Any]) -> bool:
                v = p.get(name)
                return isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high

            return in_range
        if self.contains is not None:
            words = "|".join(re.escape(w.strip()) for w in self.contains)
            pattern = re.compile(rf"(?<![0-9a-z])(?:{words})(?![0-9a-z])", re.IGNORECASE)

            def contains(p: Mapping[str, Any]) -> bool:
                v = p.get(name)
                return isinstance(v, str) and pattern.search(v) is not None

            return contains
        values = [self.equals] if self.in_ is None else self.in_
        wanted = frozenset(_norm(v) for v in values)

        def member(p: Mapping[str, Any]) -> bool:
            v = p.get(name)
            if v is None:
                return None in wanted
            if type(v) is str:
                return v.strip().casefold() in wanted
            return _norm(v) in wanted

        return member

    def describe(self) -> str:
        """The test as a sentence a sales rep reads, e.g. ``company_size is 201 to 1000``."""
        if self.exists is not None:
            return f"{self.attribute} is {'known' if self.exists else 'unknown'}"
        if self.range is not None:
            low, high = self.range.min, self.range.max
            if low is None:
                return f"{self.attribute} is at most {high:g}"
            if high is None:
                return f"{self.attribute} is at least {low:g}"
            return f"{self.attribute} is {low:g} to {high:g}"
        if self.contains is not None:
            return f"{self.attribute} contains {_either(self.contains)}"
        if self.in_ is not None:
            return f"{self.attribute} is {_either(self.in_)}"
        return f"{self.attribute} is {_shown(self.equals)}"


def _shown(value: Scalar | None) -> str:
    """A scalar as a model file's author wrote it; strings quoted so a blank one shows."""
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}"


def _either(values: list[Scalar] | list[str]) -> str:
    shown = [_shown(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + f" or {shown[-1]}"


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class ConditionSet(BaseModel):
    """``all`` of some conditions and/or ``any`` of others (both must hold when both are given)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    all_: list[Condition] = Field(default_factory=list, alias="all")
    any_: list[Condition] = Field(default_factory=list, alias="any")

    def compile(self) -> Matcher:
        """One predicate for the whole set, specialised for common shapes (it runs per score)."""
        every = [c.compile() for c in self.all_]
        some = [c.compile() for c in self.any_]
        if len(every) == 1 and not some:
            return every[0]
        if not every and len(some) == 1:
            return some[0]
        if not every and len(some) == 2:
            first, second = some
            return lambda p: first(p) or second(p)
        if not some:
            return lambda p: all(m(p) for m in every)

        def match(p: Mapping[str, Any]) -> bool:
            return all(m(p) for m in every) and any(m(p) for m in some)

        return match

    def describe(self) -> str:
        """The set in words: ``all`` joined by "and", ``any`` by "or" (bracketed beside ``all``)."""
        words = [c.describe() for c in self.all_]
        if self.any_:
            some = " or ".join(c.describe() for c in self.any_)
            words.append(f"({some})" if words and len(self.any_) > 1 else some)
        return " and ".join(words)
