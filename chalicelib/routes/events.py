"""Event handlers: what AWS delivers to the functions, routed to the domain."""
import os

from chalice import Blueprint, Rate

from chalicelib.core import config
from chalicelib.exports import schedules
from chalicelib.invitations import mailer
from chalicelib.jobs import runner
from chalicelib.metrics import reconcile, stream

bp = Blueprint(__name__)
# The stack's own queue (deploy/names.py), named with the stage's prefix.
JOBS_QUEUE = f"{config.table_prefix()}jobs"
MAIL_QUEUE = f"{config.table_prefix()}mail"

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
    """One reconciliation job per organisation (chalicelib.metrics.reconcile.fan_out)."""
    return reconcile.fan_out()


@bp.on_sqs_message(queue=JOBS_QUEUE, batch_size=1, name="run_jobs")
def run_jobs(event):
    """One step of a background job per message (chalicelib.jobs.runner). A step that
    fails is recorded on the job and re-queued by the sweeper, so the message is done."""
    for record in event:
        runner.handle_message(record.body)


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="sweep_jobs")
def sweep_jobs(event):
    return runner.sweep()


@bp.on_sqs_message(queue=MAIL_QUEUE, batch_size=1, maximum_concurrency=mailer.MAIL_CONSUMERS, name="send_mail")
def send_mail(event):
    """Invitation emails, 50 recipients a message, at SES's sending rate (mailer.deliver)."""
    for record in event:
        mailer.deliver(record.body)


@bp.schedule(Rate(schedules.RUNNER_MINUTES, unit=Rate.MINUTES), name="run_scheduled_exports")
def run_scheduled_exports(event):
    """Start the scheduled exports that are due (one Query on the due-time index)."""
    return {"started": schedules.run_due()}
