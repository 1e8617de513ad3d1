"""The jobs queue: one message per step to run, `{"job_id": ..., "seq": n}`."""
import json
from typing import Iterable, List, Tuple

from chalicelib.core import aws, config

SEND_BATCH = 10  # SendMessageBatch's limit


def message(job_id: str, seq: int) -> str:
    return json.dumps({"job_id": job_id, "seq": int(seq)})


def parse(body: str):
    """(job_id, seq), or None for a message that is not a job step (dropped, never retried)."""
    try:
        data = json.loads(body)
        job_id, seq = data["job_id"], int(data["seq"])
    except (TypeError, ValueError, KeyError):
        return None
    return (job_id, seq) if isinstance(job_id, str) and len(job_id) == 32 else None


def send(job_id: str, seq: int) -> None:
    aws.client("sqs").send_message(QueueUrl=config.jobs_queue_url(), MessageBody=message(job_id, seq))


def send_many(steps: Iterable[Tuple[str, int]]) -> List[str]:
    """Send a message per (job_id, seq), ten per request; returns the job ids that failed."""
    steps, failed = list(steps), []
    sqs = aws.client("sqs")
    for start in range(0, len(steps), SEND_BATCH):
        batch = steps[start:start + SEND_BATCH]
        reply = sqs.send_message_batch(QueueUrl=config.jobs_queue_url(), Entries=[
            {"Id": str(i), "MessageBody": message(job_id, seq)} for i, (job_id, seq) in enumerate(batch)])
        failed.extend(batch[int(f["Id"])][0] for f in reply.get("Failed", []))
    return failed
