"""A bare RQ job for the raw-RQ baseline: no database, no registry, nothing."""


def noop() -> None:
    return None


def sleep(ms: int) -> None:
    """A bare job waiting on I/O for ms milliseconds: the raw-RQ baseline of the I/O-bound runs."""
    import time

    time.sleep(ms / 1000)
