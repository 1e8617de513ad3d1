"""Structured logs (JSON, Powertools Logger) with a correlation id.

Every module logs through the standard library under "caseload" (e.g.
`logging.getLogger("caseload.jobs")`); those records go to the one Powertools
Logger below, which writes one JSON object per line with the correlation id
and the keys bound for the current unit of work: the request id for a
request (chalicelib.web.guard), the job id for a job step (chalicelib.jobs),
the mail batch for an email message. An operator follows one import or one
failed send with a CloudWatch Logs Insights filter on `correlation_id`.
"""
import os
from contextlib import contextmanager

from aws_lambda_powertools import Logger

logger = Logger(service="caseload", level=os.environ.get("CASELOAD_LOG_LEVEL", "INFO"))


@contextmanager
def correlated(correlation_id: str, **keys):
    """Log everything inside with this correlation id (and keys); restored after."""
    previous = logger.get_correlation_id()
    logger.set_correlation_id(correlation_id)
    if keys:
        logger.append_keys(**keys)
    try:
        yield
    finally:
        if keys:
            logger.remove_keys(list(keys))
        logger.set_correlation_id(previous)
