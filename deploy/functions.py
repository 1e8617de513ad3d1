"""Per-function sections of the merge template, derived from the app itself.

For every function that Chalice will generate (the API and each event handler
found in `app.event_sources`) this adds, under Chalice's own logical names:
the environment (Ref/GetAtt on the stack's resources), the role's policy (from
`deploy.policies`), the event source settings, and an Errors alarm. Values are
merged only over plain strings in Chalice's output (over an Fn::Sub object it is invalid).

Adding a handler: declare its access in `deploy/policies.py` ACCESS; stream,
queue, topic and schedule handlers get their event settings here by kind.
Queue and topic handlers name the stack's own queue/topic with the stage prefix,
e.g. `@bp.on_sqs_message(queue=f"{config.table_prefix()}uploads")` or
`@bp.on_sns_message(topic=f"{config.table_prefix()}mail-events")` (names in
deploy/names.py); another name stops the build with a message.
"""
import json
from dataclasses import dataclass
from typing import Dict, List, Optional

from chalice.utils import to_cfn_resource_name

from chalicelib.core import config

from deploy import names, policies, resources
from deploy.settings import SettingError

API_FUNCTION = "api_handler"
STREAM_RETRIES = 5
STREAM_MAX_RECORD_AGE = 6 * 3600

# Reserved concurrency: each function's share of the account's pool, so that a retry storm
# or one busy organisation cannot take the others' (docs/capacity.md sizes them). The API's
# is the stack parameter ApiConcurrency; a queue function's equals its event source's
# maximum concurrency, so that the source is never throttled (a throttled message counts
# as a receive and would reach the dead-letter queue).
API_CONCURRENCY = 200
CONCURRENCY = {"stream": 20, "queue": 10, "topic": 5, "schedule": 2, "lambda": 2}


@dataclass(frozen=True)
class Function:
    name: str                      # Chalice's function name: `api_handler` or the handler's name
    kind: str                      # api, stream, queue, topic, schedule, lambda
    source: Optional[object] = None

    @property
    def logical_id(self) -> str:
        return "APIHandler" if self.name == API_FUNCTION else to_cfn_resource_name(self.name)

    @property
    def role_id(self) -> str:
        return to_cfn_resource_name(f"{self.name}_role")

    @property
    def log_group_id(self) -> str:
        return "ApiHandlerLogGroup" if self.name == API_FUNCTION else f"{self.logical_id}LogGroup"

    @property
    def event_id(self) -> str:
        suffix = {"stream": "-dynamodb-event-source", "queue": "-sqs-event-source", "topic": "-sns-subscription",
                  "schedule": "-event"}[self.kind]
        return to_cfn_resource_name(self.name + suffix)


KINDS = {"DynamoDBEventConfig": "stream", "SQSEventConfig": "queue", "SNSEventConfig": "topic",
         "ScheduledEventConfig": "schedule", "CloudWatchEventConfig": "schedule"}


def functions_of(app) -> List[Function]:
    """The functions Chalice packages for this app."""
    found = [Function(API_FUNCTION, "api")] if app.routes else []
    for source in app.event_sources:
        kind = KINDS.get(type(source).__name__)
        if kind is None:
            raise SettingError(f"handler {source.name}: {type(source).__name__} events are not supported by "
                               f"deploy/functions.py (S3 events cannot be packaged: use the upload queue)")
        found.append(Function(source.name, kind, source))
    found.extend(Function(f.name, "lambda") for f in getattr(app, "pure_lambda_functions", []))
    return found


def environment(settings) -> Dict[str, object]:
    """Settings that only exist once the stack does, and the stack's parameters."""
    return {
        "CASELOAD_BUCKET": {"Ref": names.BUCKET},
        "CASELOAD_UPLOAD_QUEUE_URL": {"Ref": names.UPLOAD_QUEUE},
        "CASELOAD_JOBS_QUEUE_URL": {"Ref": names.JOB_QUEUE},
        "CASELOAD_MAIL_QUEUE_URL": {"Ref": names.MAIL_QUEUE},
        "CASELOAD_MAIL_CONFIGURATION_SET": {"Ref": names.CONFIGURATION_SET},
        "CASELOAD_ACCOUNTS_STREAM_ARN": {"Fn::GetAtt": [names.table_id("Account"), "StreamArn"]},
        "CASELOAD_SECRET_KEY": {"Ref": "SecretKey"},
        "CASELOAD_PUBLIC_URL": {"Ref": "PublicUrl"},
        "CASELOAD_BASE_PATH": {"Ref": "BasePath"},
        "CASELOAD_UPLOAD_ORIGIN": {"Fn::Sub": "https://${%s.RegionalDomainName}" % names.BUCKET},
        "CASELOAD_STATIC_URL": {"Fn::Sub": "https://${%s.DomainName}" % names.STATIC_DISTRIBUTION},
    }


def reserved_concurrency(function: Function):
    """The function's reserved concurrency: a number, or the ApiConcurrency parameter."""
    if function.kind == "api":
        return {"Ref": "ApiConcurrency"}
    if function.kind == "queue" and function.source.maximum_concurrency:
        return function.source.maximum_concurrency
    return CONCURRENCY[function.kind]


def _stream_table(settings, function: Function) -> str:
    """The model whose stream a handler reads, from the literal ARN it was imported with."""
    from chalicelib.core.models import ALL_MODELS

    arn = function.source.stream_arn
    table = arn.split(":table/", 1)[-1].split("/", 1)[0]
    for model in ALL_MODELS:
        if table.endswith(names.table_suffix(model)) and getattr(model.Meta, "stream_view_type", None):
            return model.__name__
    raise SettingError(f"handler {function.name} reads the stream {arn}, but no model with a stream "
                       f"(Meta.stream_view_type) has that table")


def _named(settings, function: Function, kind: str, literal: str, known: Dict[str, str]) -> str:
    """The logical id of the queue/topic a handler names; SettingError when the stack lacks it."""
    name = literal.rsplit(":", 1)[-1]
    physical = names.queue_name if kind == "queue" else names.topic_name
    from chalicelib.core import config

    for logical_id, suffix in known.items():
        # The app names it with the prefix it was imported under (the stage's when packaging).
        if name in (physical(settings, logical_id), f"{config.table_prefix()}{suffix}"):
            return logical_id
    expected = ", ".join(physical(settings, logical_id) for logical_id in known)
    raise SettingError(f"handler {function.name} listens to {kind} '{name}', which the stack does not create "
                       f"(it has {expected})")


def _depends_on(settings, function: Function) -> List[str]:
    """A queue or topic named (not Ref'd) in Chalice's `Fn::Sub` gives CloudFormation no
    order: the function must wait for it, or the event source may be made first."""
    if function.kind == "queue":
        source = function.source
        return [_named(settings, function, "queue", source.queue_arn or source.queue, names.QUEUES)]
    if function.kind == "topic":
        return [_named(settings, function, "topic", function.source.topic, names.TOPICS)]
    return []


def _event_properties(settings, function: Function) -> Optional[dict]:
    source = function.source
    if function.kind == "stream":
        return {
            "Stream": {"Fn::GetAtt": [names.table_id(_stream_table(settings, function)), "StreamArn"]},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": STREAM_RETRIES,
            "MaximumRecordAgeInSeconds": STREAM_MAX_RECORD_AGE,
            "DestinationConfig": {"OnFailure": {
                "Destination": {"Fn::GetAtt": [names.STREAM_FAILURE_QUEUE, "Arn"]}}},
        }
    if function.kind == "queue":
        queue_id = _named(settings, function, "queue", source.queue_arn or source.queue, names.QUEUES)
        properties = {"FunctionResponseTypes": ["ReportBatchItemFailures"]}
        if not source.maximum_concurrency:  # never more pollers than the function may run
            properties["ScalingConfig"] = {"MaximumConcurrency": reserved_concurrency(function)}
        if source.queue_arn:  # a plain string in Chalice's output: safe to replace
            properties["Queue"] = {"Fn::GetAtt": [queue_id, "Arn"]}
        return properties
    if function.kind == "topic":
        topic_id = _named(settings, function, "topic", source.topic, names.TOPICS)
        if source.topic.startswith("arn:"):  # a plain string in Chalice's output: safe to replace
            return {"Topic": {"Ref": topic_id}}
    return None


def gateway_responses() -> dict:
    """API Gateway's own answers never reach the app (a path deeper than any route, a body over
    10 MB, a throttled burst): they get the app's security headers and its JSON error shape."""
    sent = {**config.SECURITY_HEADERS, "Strict-Transport-Security": config.HSTS, "Cache-Control": "no-store"}
    headers = {name: f"'{value}'" for name, value in sent.items()}  # API Gateway's quoted literals
    body = {"application/json": '{"code": "$context.error.responseType", "message": $context.error.messageString}'}
    return {kind: {"ResponseParameters": {"Headers": headers}, "ResponseTemplates": body}
            for kind in ("DEFAULT_4XX", "DEFAULT_5XX")}


def api_stage_settings() -> dict:
    """The API stage (Chalice's `RestAPI`): X-Ray tracing and JSON access logs, once the
    account's API Gateway logging role is set (deploy.resources.api_logging)."""
    return {"DependsOn": ["ApiGatewayAccount"], "Properties": {
        "TracingEnabled": True,
        "AccessLogSetting": {"DestinationArn": {"Fn::GetAtt": [names.API_ACCESS_LOGS, "Arn"]},
                             "Format": resources.ACCESS_LOG_FORMAT},
        "GatewayResponses": gateway_responses()}}


def function_sections(settings, app) -> Dict[str, dict]:
    """{logical id: partial resource} for every function, its role and its Errors alarm."""
    sections: Dict[str, dict] = {}
    stack_arns = policies.StackArns(settings)
    for function in functions_of(app):
        try:
            document = policies.policy(function.name, stack_arns)
        except KeyError as missing:
            raise SettingError(missing.args[0]) from None
        properties: dict = {
            "Environment": {"Variables": environment(settings)},
            "KmsKeyArn": resources.key_arn(),
            "ReservedConcurrentExecutions": reserved_concurrency(function),
            # Failed asynchronous invocations (schedules, SNS) after Lambda's two retries; queue and
            # stream functions have their own (the queues' redrive, the stream's on-failure queue).
            "DeadLetterQueue": {"Type": "SQS", "TargetArn": {"Fn::GetAtt": [names.FUNCTION_DLQ, "Arn"]}},
        }
        event = _event_properties(settings, function)
        if event:
            properties["Events"] = {function.event_id: {"Properties": event}}
        sections[function.logical_id] = {"Properties": properties}
        already = json.dumps(properties)  # a Ref in the environment orders it already
        depends_on = [d for d in _depends_on(settings, function) if f'"{d}"' not in already]
        if depends_on:
            sections[function.logical_id]["DependsOn"] = depends_on
        sections[function.role_id] = {"Properties": {"Policies": [
            {"PolicyName": f"{function.role_id}Policy", "PolicyDocument": document}]}}
        if settings.log_retention_days:  # Chalice then makes each function's log group
            log_group: dict = {"KmsKeyId": resources.key_arn()}
            if function.kind == "api":
                # Chalice names the API's log group after `ApiHandler`, which does not exist.
                log_group["LogGroupName"] = {"Fn::Sub": "/aws/lambda/${%s}" % function.logical_id}
            sections[function.log_group_id] = {"Properties": log_group}
        if function.kind == "api":
            sections["RestAPI"] = api_stage_settings()
        sections[f"{function.logical_id}ErrorsAlarm"] = resources.alarm(
            {"Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum",
             "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": function.logical_id}}]},
            f"{function.name} raised an error (see its CloudWatch logs).")
    return sections
