"""Event handlers: what AWS delivers to the functions, routed to the domain."""
import os
from dataclasses import asdict

from chalice import Blueprint, Rate

from chalicelib.exports import schedules
from chalicelib.metrics import reconcile, stream

bp = Blueprint(__name__)

# Chalice needs the ARN as a literal when the app is imported; the deploy
# template replaces it with the table's StreamArn (Fn::GetAtt).
ACCOUNTS_STREAM_ARN = os.environ.get(
    "CASELOAD_ACCOUNTS_STREAM_ARN",
    "arn:aws:dynamodb:eu-west-1:123456789012:table/caseload-local-accounts/stream/1970-01-01T00:00:00.000",
)


@bp.on_dynamodb_record(stream_arn=ACCOUNTS_STREAM_ARN, batch_size=100, starting_position="TRIM_HORIZON",
                      name="aggregate_account_changes")
def aggregate_account_changes(event):
    return stream.apply_stream_batch(event.to_dict())


@bp.schedule(Rate(1, unit=Rate.HOURS), name="reconcile_metrics")
def reconcile_metrics(event):
    return asdict(reconcile.reconcile())


@bp.schedule(Rate(schedules.RUNNER_MINUTES, unit=Rate.MINUTES), name="run_scheduled_exports")
def run_scheduled_exports(event):
    """Start the scheduled exports that are due (one Query on the due-time index)."""
    return {"started": schedules.run_due()}
