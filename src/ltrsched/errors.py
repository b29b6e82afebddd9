"""Errors meant for the person at the terminal: the CLI prints them without a traceback."""


class UserError(Exception):
    """Bad input or a missing asset; the message says what is wrong and how to fix it."""


class MissingModelError(UserError, FileNotFoundError):
    """A ranker or served model is not where it was looked for; the message says how to get it."""
