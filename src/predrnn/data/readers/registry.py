"""Which reader takes a path: the readers are found, not listed (docs/architecture.md, "Readers").

`readers()` imports every module of the `predrnn.data.readers` package (pkgutil, over the
package's `__path__`) and keeps each concrete `Source` subclass defined there that declares what
it reads (`suffixes` or its own `probe`). A new reader is a new module; nothing else changes.
`reader_for(path)` asks the probes first, then the suffixes; `sources_under(folder)` walks a
folder for what the readers that look `in_folders` take.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from predrnn.data.readers.api import Options, Source


def is_reader(value: object, module: str) -> bool:
    """A concrete Source subclass defined in `module` that says which paths it takes."""
    return (
        inspect.isclass(value)
        and issubclass(value, Source)
        and value.__module__ == module
        and not inspect.isabstract(value)
        and (bool(value.suffixes) or value.probe.__func__ is not Source.probe.__func__)
    )


def reader_modules() -> list[str]:
    """The dotted names of the package's modules, in name order."""
    package = importlib.import_module(__package__)
    return sorted(info.name for info in pkgutil.iter_modules(package.__path__, f"{__package__}."))


@cache
def readers() -> tuple[type[Source], ...]:
    """Every reader of the package, ordered by module and class name (`readers.cache_clear()`
    forgets them, for a module added while running)."""
    found = []
    for name in reader_modules():
        module = importlib.import_module(name)
        found += sorted((v for v in vars(module).values() if is_reader(v, name)), key=lambda c: c.__name__)
    return tuple(found)


def reader_for(path: Path, among: Iterable[type[Source]] | None = None) -> type[Source] | None:
    """The reader that takes `path` (a probe that recognises it, else a suffix), or None."""
    candidates = readers() if among is None else tuple(among)
    probed = next((r for r in candidates if r.probe(path)), None)
    if probed is not None:
        return probed
    return next((r for r in candidates if path.suffix.lower() in r.suffixes and path.is_file()), None)


def sources_under(folder: Path, options: Options) -> list[Source]:
    """What the `in_folders` readers take under `folder`, recursively: in each folder (in name
    order) its files in name order, then the folder itself (a folder of frame images)."""
    walkers = [r for r in readers() if r.in_folders]
    sources = []
    for here, dirs, files in sorted(os.walk(folder)):
        dirs.sort()
        for name in sorted(files):
            reader = reader_for(Path(here) / name, walkers)
            if reader is not None:
                sources.append(reader.open(Path(here) / name, options))
        reader = reader_for(Path(here), walkers)
        if reader is not None:
            sources.append(reader.open(Path(here), options))
    return sources
