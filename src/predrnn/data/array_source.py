"""Kept for code that imports `predrnn.data.array_source.ArraySource`: the array readers now live
in `predrnn.data.readers` (`array.py` is their shared base, one file per container; docs/
architecture.md, "Readers"). `isinstance(source, ArraySource)` is true for every one of them; a
source's `layout` attribute (None for videos, images and records) says the same without it."""

from __future__ import annotations

from predrnn.data.readers.array import ArraySource

__all__ = ["ArraySource"]
