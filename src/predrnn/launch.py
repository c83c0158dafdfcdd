"""What Hydra says about this launch, as plain data: the entry points (`predrnn.cli`) read
Hydra's global state once (`predrnn.cli.hydra_state.current_launch`) and hand a `Launch` to the
library functions that need it; no module outside `predrnn.cli` reads `HydraConfig`
(docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Launch:
    """One launch of an entry point. The defaults describe a config composed outside a Hydra
    app (tests, notebooks, benchmarks): no overrides, no choices, a single run."""

    in_hydra: bool = False  # composed by a Hydra app (or `compose`), so the fields below are its
    task: tuple[str, ...] = ()  # the command line's overrides (`data.path=…`, `model=…`)
    hydra: tuple[str, ...] = ()  # the `hydra.*` overrides (`hydra.searchpath=…`)
    choices: Mapping[str, Any] = field(default_factory=dict)  # the option of each config group
    multirun: bool = False  # `-m`: one job of a sweep
    launcher: Mapping[str, Any] = field(default_factory=dict)  # the sweep's launcher config (`_target_`, `n_jobs`)
    output_dir: str | None = None

    def choice(self, group: str, default: str | None = None) -> str | None:
        """The option of config `group` this launch composed (`default` where none)."""
        return self.choices.get(group) or default

    def given(self, group: str) -> bool:
        """Whether the command line sets `group` or a key of it (`data=…`, `data.test_size=…`)."""
        keys = [o.lstrip("+~").split("=")[0] for o in self.task]
        return any(k == group or k.startswith(f"{group}.") for k in keys)
