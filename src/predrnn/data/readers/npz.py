"""`.npz` archives: the member `data.key` (or the only one besides the actions), read whole, never
unpickled (docs/data.md, "Formats": NumPy can't memory-map a zip member)."""

from __future__ import annotations

import numpy as np

from predrnn.data.readers.array import ArraySource
from predrnn.errors import DataError


class NpzSource(ArraySource):
    """One member of an `.npz` archive, and the actions member beside it."""

    suffixes = (".npz",)
    keeps_open = False  # a member is read whole

    def container(self):
        try:
            return np.load(self.path, allow_pickle=False)
        except (OSError, EOFError, ValueError) as err:
            raise DataError(f"{self.path_key}={self.path} is not a readable .npz ({err}): write it again")

    def names(self, container) -> list[str]:
        return list(container.files)

    def node(self, container, name: str) -> np.ndarray:
        try:
            return container[name]
        except ValueError as err:  # an object array asks for pickle
            raise DataError(
                f"{self.path_key}={self.path} holds Python objects ({err}): predrnn never unpickles; save numbers"
            ) from None
        except (OSError, EOFError) as err:
            raise DataError(f"{self.path_key}={self.path} is not a readable .npz ({err}): write it again") from None

    def close(self, container) -> None:
        container.close()
