"""Errors meant for the user: one line that names the file, row or field and the fix.

The CLI prints them without a traceback and exits with code 2 (the input is wrong) or,
for faults of the environment rather than of the input (a full disk, a broken model
registry), with the class's ``exit_code`` 1; the service turns them into 4xx responses.
Anything else is a bug and keeps its traceback.
"""


class WinbackError(ValueError):
    """Base class of every error caused by the user's input or configuration."""


class TransactionsError(WinbackError):
    """A transactions source that cannot be used at all."""


class ConfigError(WinbackError):
    """A configuration file or setting that cannot be used."""


class OutputError(WinbackError):
    """An output file that could not be written (full disk, no permission, a device that
    refuses the bytes): nothing half-written is left behind (see features.atomic)."""

    exit_code = 1


class RegistryError(WinbackError):
    """The model registry or a model's files cannot be read: the store is damaged or
    incomplete, not the user's input."""

    exit_code = 1
