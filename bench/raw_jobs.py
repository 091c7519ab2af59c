"""A bare RQ job for the raw-RQ baseline: no database, no registry, nothing."""


def noop() -> None:
    return None
