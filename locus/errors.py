"""Exceptions LOCUS raises for bad input: the message names the table, field and row."""


class LocusDataError(ValueError):
    """Input data (a table, file, checkpoint or request) is invalid; the message says where."""


class UnknownModelError(LocusDataError):
    """A request names a model the registry does not hold."""
