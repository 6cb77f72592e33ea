"""Errors of training inputs, shared by the modules that read and split data (kept apart to avoid cycles)."""


class DataError(ValueError):
    """The data does not fit the spec; the message names the file, column and rule."""
