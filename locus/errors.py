"""Exceptions LOCUS raises for bad input: the message names the table, field and row. The HTTP API
answers each class with its own status (locus.serve.ingress)."""


class LocusDataError(ValueError):
    """Input data (a table, file, checkpoint or request) is invalid; the message says where (422)."""


class NotFoundError(LocusDataError):
    """A request names something the store or registry does not hold (404)."""


class UnknownModelError(NotFoundError):
    """A request names a model the registry does not hold."""


class ConflictError(LocusDataError):
    """A well-formed request the pool's current state cannot answer: every candidate unavailable or
    held back, a portfolio larger than the pool, a budget with no priced models (409)."""
