"""Errors a user can act on. The CLI prints them as one line (`kaokae: error: ...`), never a traceback."""


class KaokaeError(Exception):
    """Bad input or a request that cannot be met: exit code 2."""

    exit_code = 2


class NothingFoundError(KaokaeError):
    """The input was valid but held nothing to work on (for example no face anywhere): exit code 1."""

    exit_code = 1


class StreamLostError(KaokaeError):
    """A live source (camera, network stream) stopped delivering frames in the middle: exit code 1. A stream that
    ends normally is not an error."""

    exit_code = 1
