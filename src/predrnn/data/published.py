"""`data=arrays` for a published benchmark set (docs/benchmarks.md): the same data module, whose
errors opening the files add one line's end naming where the set is published and the layout
expected (`published`, set by conf/data/taxibj.yaml and conf/data/human36m.yaml)."""

from __future__ import annotations

from predrnn.data.arrays_datamodule import ArraysDataModule
from predrnn.errors import DataError


class PublishedArraysDataModule(ArraysDataModule):
    """ArraysDataModule plus `published`, added to a DataError raised while opening the files."""

    def __init__(self, published: str | None = None, **settings) -> None:
        try:
            super().__init__(**settings)
        except DataError as err:
            raise (DataError(f"{err}; {published}") if published else err) from None
