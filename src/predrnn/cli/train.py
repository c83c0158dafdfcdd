"""`predrnn-train [overrides]`: the console script over `predrnn.training.run.train`.

Before Hydra composes the config it picks the preset that fits this machine where the command
line names none (`predrnn.training.presets`); inside the Hydra task it reads what Hydra says
about this launch (`current_launch`) and hands it to the library, which validates, builds, fits,
tests and writes the run's record (docs/usage.md)."""

from __future__ import annotations

from omegaconf import DictConfig

from predrnn.cli import entry
from predrnn.cli.entry import entry_point, report_errors
from predrnn.cli.hydra_state import current_launch


def run(cfg: DictConfig, preset_note: str | None = None) -> float:
    """The Hydra task: train as `cfg` says, with this launch's overrides and choices."""
    from predrnn.training.run import train  # torch and Lightning: after the config's checks (entry.py)

    return train(cfg, current_launch(), preset_note=preset_note)


task = report_errors("predrnn-train")(run)  # the Hydra task with the error contract, for in-process use


def main() -> None:
    note: list[str | None] = [None]

    def prepare(args: list[str]) -> list[str]:  # after the config's checks, which need no torch
        from predrnn.training.presets import choose_experiment

        args, note[0] = choose_experiment(args, entry.OPENMP_NOTE)
        return args

    def run_with_note(cfg: DictConfig) -> float:
        return run(cfg, preset_note=note[0])

    entry_point("train", "predrnn-train", run_with_note, prepare=prepare)()


if __name__ == "__main__":
    main()
