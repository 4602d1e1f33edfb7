"""One exception type for bad input: the CLI prints its message as a single line."""


class LtError(ValueError):
    """A user-facing error whose message names the fix."""
