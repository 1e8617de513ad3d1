"""Kinds of job and the step function of each."""
from dataclasses import dataclass
from typing import Callable, Dict, Optional

from chalicelib.core.models import Job


@dataclass
class Step:
    """What one step did and where the next continues.

    Parameters
    ----------
    cursor:   where the next step starts (None: unchanged); the kind's own shape, kept small.
    done, total: progress (None: unchanged).
    summary:  replaces the job's summary (counts shown to the person); None: unchanged.
    phase:    the kind's next stage (None: unchanged).
    finished: the job is done.
    wait:     the job waits for the person (e.g. a dry run to confirm); `jobs.resume` continues it.
    failed:   a reason a person can read: the job fails for good (bad input; Retry would not help).
    later:    seconds: nothing to do yet (e.g. a file not uploaded yet); the same kind of step runs
              again after that long, queued by the sweeper or by whoever `jobs.wake`s the job first.
    """

    cursor: Optional[dict] = None
    done: Optional[int] = None
    total: Optional[int] = None
    summary: Optional[dict] = None
    phase: Optional[str] = None
    finished: bool = False
    wait: bool = False
    failed: Optional[str] = None
    later: Optional[int] = None

    @property
    def continues(self) -> bool:
        return not (self.finished or self.wait or self.failed)


StepFunction = Callable[[Job], Step]
_STEPS: Dict[str, StepFunction] = {}


def step(kind: str):
    """Register the step function of a kind of job (one per kind)."""

    def register(function: StepFunction) -> StepFunction:
        if _STEPS.get(kind, function) is not function:
            raise ValueError(f"job kind {kind} already has a step function")
        _STEPS[kind] = function
        return function

    return register


def step_for(kind: str) -> Optional[StepFunction]:
    return _STEPS.get(kind)

