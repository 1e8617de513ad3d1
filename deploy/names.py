"""Names of the stack's resources: logical ids (what the template Refs) and
physical names derived from the stage's table prefix (what the app and the
policy files see). Kept in one place so that template, policies and the app agree.
"""
from chalicelib.core import config

BUCKET = "FilesBucket"
UPLOAD_QUEUE = "UploadQueue"
UPLOAD_DLQ = "UploadDeadLetterQueue"
STREAM_FAILURE_QUEUE = "StreamFailureQueue"
JOB_QUEUE = "JobQueue"
JOB_DLQ = "JobDeadLetterQueue"
MAIL_QUEUE = "MailQueue"
MAIL_DLQ = "MailDeadLetterQueue"
MAIL_EVENTS_TOPIC = "MailEventsTopic"
ALARM_TOPIC = "AlarmTopic"
CONFIGURATION_SET = "MailConfigurationSet"
FUNCTION_DLQ = "FunctionDeadLetterQueue"   # every function's dead-letter queue (failed asynchronous invocations)
STACK_KEY = "StackKey"                     # the stack's one customer-managed KMS key (deploy/posture.py)
LOG_BUCKET = "LogBucket"                   # S3 server access logs and CloudFront's access logs
STATIC_BUCKET = "StaticBucket"             # fingerprinted static files, read by CloudFront only
STATIC_DISTRIBUTION = "StaticDistribution"
API_ACCESS_LOGS = "ApiAccessLogGroup"

# Queue logical id -> name after the stage prefix. `uploads` is also the
# local emulator's name, so an `@app.on_sqs_message(queue=...)` handler finds it.
QUEUES = {UPLOAD_QUEUE: "uploads", UPLOAD_DLQ: "uploads-dlq", STREAM_FAILURE_QUEUE: "stream-failures",
          JOB_QUEUE: "jobs", JOB_DLQ: "jobs-dlq", MAIL_QUEUE: "mail", MAIL_DLQ: "mail-dlq",
          FUNCTION_DLQ: "function-failures"}
TOPICS = {MAIL_EVENTS_TOPIC: "mail-events", ALARM_TOPIC: "alarms"}


def table_id(model_name: str) -> str:
    return f"{model_name}Table"


def model_named(model_name: str):
    from chalicelib.core.models import ALL_MODELS

    for model in ALL_MODELS:
        if model.__name__ == model_name:
            return model
    raise KeyError(f"no model {model_name} in chalicelib.core.models.ALL_MODELS")


def table_suffix(model) -> str:
    """`accounts`: the model's table name without the prefix it was imported with."""
    name, prefix = model.Meta.table_name, config.table_prefix()
    if not name.startswith(prefix):
        raise RuntimeError(f"{name} was named before CASELOAD_TABLE_PREFIX became {prefix}: "
                           "set the stage's environment before importing chalicelib.core.models")
    return name[len(prefix):]


def table_name(settings, model_name: str) -> str:
    return f"{settings.table_prefix}{table_suffix(model_named(model_name))}"


def queue_name(settings, logical_id: str) -> str:
    return f"{settings.table_prefix}{QUEUES[logical_id]}"


def topic_name(settings, logical_id: str) -> str:
    return f"{settings.table_prefix}{TOPICS[logical_id]}"


def configuration_set(settings) -> str:
    return f"{settings.table_prefix}mail"


def bucket_name_sub(settings) -> dict:
    """Globally unique per account and region, and still matched by the policy files' pattern."""
    return {"Fn::Sub": f"{settings.table_prefix}files-${{AWS::AccountId}}-${{AWS::Region}}"}


def stack_bucket_name_sub(settings, purpose: str) -> dict:
    """Another of the stack's buckets (`logs`, `static`), named like the files bucket."""
    return {"Fn::Sub": f"{settings.table_prefix}{purpose}-${{AWS::AccountId}}-${{AWS::Region}}"}


def key_alias(settings) -> str:
    return f"alias/{settings.table_prefix}stack"
