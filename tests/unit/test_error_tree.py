"""Every exception class of the engine descends from ``EasyPayError`` and is drawn, under its real
parent and with its module, in the tree of ``engine/errors.py``'s docstring."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import engine
from engine import errors
from engine.errors import EasyPayError

_TREE_LINE = re.compile(r"^(?P<indent>(?:[│ ] {3})*)[├└]── (?P<name>\w+)(?: \((?P<builtin>\w+)\))? \.+ (?P<module>[\w.]+)$")


def _engine_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(engine.__path__, "engine."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.__name__:
                assert value.__name__ not in found, f"two engine exceptions named {value.__name__}"
                found[value.__name__] = value
    return found


def _drawn_tree() -> dict[str, tuple[str, str, str | None]]:
    """name → (parent name, module, built-in base) as the docstring draws it."""
    lines = [line.strip("\n")[4:] for line in (errors.__doc__ or "").splitlines() if line.startswith("    ")]
    assert lines[0] == "EasyPayError"
    drawn: dict[str, tuple[str, str, str | None]] = {}
    parents = ["EasyPayError"]
    for line in lines[1:]:
        match = _TREE_LINE.match(line)
        assert match, f"not a tree line: {line!r}"
        depth = len(match["indent"]) // 4
        del parents[depth + 1 :]
        assert match["name"] not in drawn, f"{match['name']} drawn twice"
        drawn[match["name"]] = (parents[depth], match["module"], match["builtin"])
        parents.append(match["name"])
    return drawn


def _engine_parent(cls: type[BaseException]) -> type[BaseException]:
    (parent,) = [base for base in cls.__bases__ if issubclass(base, EasyPayError)]
    return parent


def test_the_walk_finds_the_engine_exceptions():
    found = _engine_exceptions()
    assert {"PaymentNotFound", "SealKeyUnknown", "UnsafeUrl", "_NotQueued"} <= set(found)
    assert len(found) > 25


def test_every_engine_exception_is_an_easypay_error():
    outside = sorted(name for name, cls in _engine_exceptions().items() if not issubclass(cls, EasyPayError))
    assert not outside, f"re-parent onto engine.errors.EasyPayError: {outside}"


def test_the_docstring_tree_is_the_real_hierarchy():
    found = _engine_exceptions()
    drawn = _drawn_tree()
    assert set(drawn) == set(found) - {"EasyPayError"}, "the tree in engine/errors.py must draw every engine exception"
    for name, (parent, module, builtin) in drawn.items():
        cls = found[name]
        assert cls.__module__ == module, f"{name} is defined in {cls.__module__}, drawn in {module}"
        assert _engine_parent(cls).__name__ == parent, f"{name} is drawn under {parent}"
        builtins = [base.__name__ for base in cls.__bases__ if not issubclass(base, EasyPayError)]
        assert builtins == ([builtin] if builtin else []), f"{name}'s built-in base is drawn as {builtin}"


def test_built_in_bases_still_catch():
    from engine.db.payments import PaymentNotFound
    from engine.money import AmountError

    assert issubclass(PaymentNotFound, LookupError) and issubclass(AmountError, ValueError)


def test_errors_imports_nothing_of_the_engine():
    source = inspect.getsource(errors)
    assert not re.search(r"^\s*(from|import) engine", source, re.M)
