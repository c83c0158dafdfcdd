"""Errors that the entry points turn into one readable line (and a non-zero exit)."""


class PredRNNError(Exception):
    """Base of the errors a user can fix: the message names the problem and the fix."""


class ConfigError(PredRNNError, ValueError):
    """A configuration value is out of range or inconsistent."""


class DataError(PredRNNError, ValueError):
    """A data file is missing, unreadable or of the wrong shape or type."""


class CheckpointError(PredRNNError, ValueError):
    """A checkpoint is missing or does not fit the configured model."""
