"""Lightning's private parts are used in one module, `training/lightning_internals.py`, and the
Lightning range pinned in pyproject.toml holds the installed version (the one the suite ran on)."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from functools import cache
from importlib.metadata import version
from pathlib import Path

import pytest

from helpers import ROOT

PACKAGE = ROOT / "src" / "predrnn"
INTERNALS = PACKAGE / "training" / "lightning_internals.py"
LIGHTNING = ("pytorch_lightning", "lightning_fabric", "lightning")
PRIVATE = re.compile(r"_[a-z][a-z0-9_]*")  # `_name`, not a dunder
DEFINED = re.compile(r"(?:\bdef\s+|\bself\.|\bcls\.)(_[a-z][a-z0-9_]*)")
# Lightning's loop tree (`trainer.fit_loop.epoch_loop.…`): public attributes whose layout changes
# between minor versions, so they count as internals too
LOOP_TREE = {"fit_loop", "epoch_loop"}


def _names_in(text: str) -> set[str]:
    return set(DEFINED.findall(text))


@cache
def lightning_private_names() -> frozenset[str]:
    """The private methods and attributes Lightning defines (`def _x`, `self._x`)."""
    names: set[str] = set()
    for package in ("pytorch_lightning", "lightning_fabric"):
        root = Path(importlib.import_module(package).__file__).parent
        for path in root.rglob("*.py"):
            names |= _names_in(path.read_text(encoding="utf-8"))
    return frozenset(names)


@cache
def _lightning_class_names(cls: type) -> frozenset[str]:
    """The private names the Lightning classes among `cls`'s bases define."""
    names: set[str] = set()
    for base in cls.__mro__:
        if base.__module__.split(".")[0] in LIGHTNING:
            names |= _names_in(inspect.getsource(base))
    return frozenset(names)


def _lightning_imports(tree: ast.Module) -> dict[str, object]:
    """{local name: object} of what a module imports from Lightning."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in LIGHTNING:
            module = importlib.import_module(node.module)
            for alias in node.names:
                found[alias.asname or alias.name] = getattr(module, alias.name, None)
    return found


def private_uses(source: str, own: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Where `source` touches a private part of Lightning: an import of a private Lightning
    module or name, `x._name` where Lightning defines `_name` and predrnn (`own`) does not, a
    method or attribute of a Lightning subclass that Lightning's class defines privately, or
    Lightning's loop tree."""
    tree = ast.parse(source)
    lightning = lightning_private_names() - own
    imported = _lightning_imports(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            names = [] if isinstance(node, ast.Import) else [a.name for a in node.names]
            for module in modules:
                if module.split(".")[0] in LIGHTNING and any(PRIVATE.fullmatch(p) for p in module.split(".")):
                    found.append(f"line {node.lineno}: imports the private module {module}")
            if modules[0].split(".")[0] in LIGHTNING:
                found += [f"line {node.lineno}: imports the private {n}" for n in names if PRIVATE.fullmatch(n)]
        elif isinstance(node, ast.Attribute):
            if node.attr in LOOP_TREE:
                found.append(f"line {node.lineno}: Lightning's loop tree (.{node.attr})")
            is_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if PRIVATE.fullmatch(node.attr) and not is_self and node.attr in lightning:
                found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ClassDef):
            bases = [imported.get(b.id) for b in node.bases if isinstance(b, ast.Name)]
            private = set().union(*(_lightning_class_names(b) for b in bases if isinstance(b, type)))
            for inner in ast.walk(node):
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)) and inner.name in private:
                    found.append(f"line {inner.lineno}: {node.name} overrides Lightning's private {inner.name}")
                elif (
                    isinstance(inner, ast.Attribute)
                    and isinstance(inner.value, ast.Name)
                    and inner.value.id == "self"
                    and inner.attr in private
                ):
                    found.append(f"line {inner.lineno}: {node.name} uses Lightning's private self.{inner.attr}")
    return found


def _modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p != INTERNALS]


def test_only_lightning_internals_touches_a_private_part_of_lightning():
    sources = {path: path.read_text(encoding="utf-8") for path in _modules()}
    own = set().union(*(_names_in(text) for text in sources.values()))
    touched = {
        str(path.relative_to(PACKAGE)): uses for path, text in sources.items() if (uses := private_uses(text, own))
    }
    assert touched == {}, f"move these behind a function of {INTERNALS.relative_to(ROOT)}: {touched}"


@pytest.mark.parametrize(
    "code",
    [
        "def f(trainer):\n    trainer._signal_connector.received_sigterm = True\n",
        "def f(trainer):\n    return trainer._checkpoint_connector.dump_checkpoint(False)\n",
        "def f(trainer):\n    return trainer.fit_loop.epoch_loop.batch_progress.total.ready\n",
        "from pytorch_lightning.callbacks import RichProgressBar\n\n"
        "class Bar(RichProgressBar):\n    def _get_train_description(self, epoch):\n        return 'train'\n",
        "from pytorch_lightning.callbacks import RichProgressBar\n\n"
        "class Bar(RichProgressBar):\n    def f(self):\n        self._update_metrics(None, None)\n",
        "from pytorch_lightning.utilities._pytree import _is_leaf_or_primitive_container\n",
    ],
)
def test_the_scan_sees_each_kind_of_private_use(code):
    assert private_uses(code)


def test_the_scan_leaves_predrnns_own_private_names_alone():
    code = (
        "from pytorch_lightning.callbacks import Callback\n\n"
        "class Guard(Callback):\n    def _problem(self):\n        return self._pending\n"
    )
    assert private_uses(code) == []


def test_the_pinned_lightning_range_holds_the_installed_version():
    from packaging.requirements import Requirement

    (line,) = re.findall(r'^\s*"(pytorch-lightning[^"]*)"', (ROOT / "pyproject.toml").read_text(), re.M)
    pin = Requirement(line)
    uppers = [s for s in pin.specifier if s.operator == "<"]
    assert uppers, f"{pin}: no upper bound (a Lightning release may move what lightning_internals.py uses)"
    assert pin.specifier.contains(version("pytorch-lightning")), (pin, version("pytorch-lightning"))
