"""The exception hierarchy of raie.

Every error a user can cause derives from :class:`RaieError`; the CLI prints its message as
one sentence on stderr and exits 1. Messages name the file, field and value at fault.
"""


class RaieError(Exception):
    """Base class of every error raie raises on purpose."""


class RaieConfigError(RaieError, ValueError):
    """A configuration value is out of its documented range (names the field and value)."""


class RaieDataError(RaieError):
    """Input data breaks a rule (names the file, column, rows and the rule)."""


class RaieStateError(RaieError):
    """The RAIE home is missing, locked or inconsistent."""


class RaieCorruptError(RaieStateError):
    """A stored file does not match the digest recorded when it was written (names the file)."""
