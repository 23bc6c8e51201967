"""Errors meant for the user: one line that names the file, row or field and the fix.

The CLI prints them without a traceback and exits with code 2; the service turns them
into 4xx responses. Anything else is a bug and keeps its traceback.
"""


class WinbackError(ValueError):
    """Base class of every error caused by the user's input or configuration."""


class TransactionsError(WinbackError):
    """A transactions source that cannot be used at all."""


class ConfigError(WinbackError):
    """A configuration file or setting that cannot be used."""
