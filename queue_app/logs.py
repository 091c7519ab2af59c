"""Logging filters for the queue's loggers (named in settings LOGGING).

| Filter               | Logger    | What it changes                                      | Test                  |
|----------------------|-----------|------------------------------------------------------|-----------------------|
| RQMaintenanceAtDebug | rq.worker | the per-queue "cleaning registries" INFO is DEBUG    | queue_app/test_logs.py|

RQ 3.0 logs "Worker …: cleaning registries for queue: …" at INFO for every queue at start and every
maintenance interval: about fifty lines that bury the development banner. It is routine, so it is
shown only when LOG_LEVEL is DEBUG; every other RQ line (warnings, "Job OK", errors) is unchanged.
"""

from __future__ import annotations

import logging

ROUTINE_RQ_MESSAGES = ("cleaning registries for queue",)


class RQMaintenanceAtDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not any(text in str(record.msg) for text in ROUTINE_RQ_MESSAGES):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
