"""Errors that the entry points turn into one readable line (and exit code 2)."""


class PredRNNError(Exception):
    """Base of the errors a user can fix: the message names the problem and the fix."""


class ConfigError(PredRNNError, ValueError):
    """A configuration value is out of range or inconsistent."""


class BadValue(ConfigError):
    """One constructor argument is invalid. It knows its key, so that an entry point can name
    the config key in full (`model.kernel_size`) while the constructor names only its own
    argument (`kernel_size`)."""

    def __init__(self, key: str, value: object, need: str, example: object | None = None, group: str = "") -> None:
        self.key, self.value, self.need, self.example, self.group = key, value, need, example, group
        super().__init__(self._text())

    def _text(self) -> str:
        name = f"{self.group}.{self.key}" if self.group else self.key
        shown = repr(self.value) if isinstance(self.value, str) else self.value
        text = f"{name}={shown} {self.need}"
        return text if self.example is None else f"{text}: e.g. {name}={self.example}"

    def in_group(self, group: str) -> "BadValue":
        """The same error, naming the key as the config does (`group.key`)."""
        return BadValue(self.key, self.value, self.need, self.example, group)


class DataError(PredRNNError, ValueError):
    """A data file is missing, unreadable or of the wrong shape or type."""


class CheckpointError(PredRNNError, ValueError):
    """A checkpoint is missing, unsafe, or does not fit the configured model."""


class OutputError(PredRNNError, ValueError):
    """An output path would overwrite a file or an input, or can't be written."""


class TrainingStopped(PredRNNError):
    """Training went wrong (NaN/inf, divergence) and was stopped before saving bad state."""


class MissingExtra(ConfigError):
    """An optional capability's library is not installed: the message names the pip extra that
    installs it (predrnn/extras.py)."""
