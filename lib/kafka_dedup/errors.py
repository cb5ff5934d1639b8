"""Errors a user can fix: the CLI prints their one-line message and exits non-zero."""


class UserError(Exception):
    """A problem with input, configuration or environment; the message names it and the fix."""

    exit_code = 2
