"""Least-privilege IAM: what each function may touch, written once.

`ACCESS` declares, per function (Chalice's handler name; `api_handler` is the
API), which tables it reads and writes, which stream it consumes, which bucket
prefixes and queues it uses and whether it sends mail. `policy()` turns that
into an IAM policy with one of two ARN styles:

- `PatternArns`: stage-prefixed patterns, written to `.chalice/policy-*.json`
  (what `chalice deploy` would use; `python -m deploy.policies` rewrites them);
- `StackArns`: `Ref`/`GetAtt`/`Fn::Sub` on the stack's own resources, which
  the merge template puts on every function's role.

A function that the app defines but `ACCESS` does not know stops the build:
new handlers must say what they need.
"""
import json
import sys
from dataclasses import dataclass, field
from typing import Dict, Tuple

from deploy import names

LOG_ACTIONS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
# DescribeTable: pynamodb asks for a table's description on its first request.
READ_ACTIONS = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
                "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"]
WRITE_ACTIONS = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]
STREAM_ACTIONS = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                  "dynamodb:ListStreams"]
QUEUE_CONSUME_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                         "sqs:ChangeMessageVisibility"]
# The stack's KMS key: tables, queues, log groups and the environment are encrypted with it.
KEY_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
MAIL_ACTIONS = ["ses:SendEmail", "ses:SendRawEmail", "ses:SendTemplatedEmail", "ses:SendBulkTemplatedEmail"]
ALL_TABLES = ("Organisation", "Account", "Session", "Activity", "Group", "Lookup", "SearchToken", "Metric",
              "Throttle", "Export", "ExportSchedule", "Job", "IdempotencyKey")


@dataclass(frozen=True)
class Access:
    read: Tuple[str, ...] = ()            # model names (queries on their indexes included)
    write: Tuple[str, ...] = ()
    stream: Tuple[str, ...] = ()          # models whose stream the function consumes
    get_objects: Tuple[str, ...] = ()     # bucket prefixes, e.g. "uploads/"
    put_objects: Tuple[str, ...] = ()
    delete_objects: Tuple[str, ...] = ()
    consume_queues: Tuple[str, ...] = ()  # logical ids in deploy.names.QUEUES
    send_queues: Tuple[str, ...] = ()
    mail: bool = False
    extra: Tuple[dict, ...] = field(default=())


# The API writes everything except what only the accounts stream keeps
# (metrics counters, search tokens), which it reads.
ACCESS: Dict[str, Access] = {
    "api_handler": Access(
        read=ALL_TABLES,
        write=tuple(t for t in ALL_TABLES if t not in ("Metric", "SearchToken")),
        get_objects=("uploads/", "exports/", "reports/", "plans/"),
        put_objects=("uploads/", "exports/", "reports/", "plans/"),
        send_queues=("UploadQueue", "JobQueue", "MailQueue"),
        mail=True,
    ),
    # Accounts stream -> counters and search tokens; failed batches go to the failure queue.
    "aggregate_account_changes": Access(
        read=("Account", "Metric", "SearchToken"),
        write=("Metric", "SearchToken"),
        stream=("Account",),
        send_queues=("StreamFailureQueue",),
    ),
    # Hourly: one recount job per organisation (run by run_jobs, from the accounts into the counters).
    "reconcile_metrics": Access(read=("Organisation",), write=("Job",), send_queues=("JobQueue",)),
    # Upload queue -> CSV import (its dry run starts a job).
    "invite_uploads": Access(
        read=ALL_TABLES, write=("Account", "Lookup", "Activity", "Group", "Job"),
        get_objects=("uploads/",), delete_objects=("uploads/",),
        consume_queues=("UploadQueue",), send_queues=("UploadQueue", "JobQueue", "MailQueue"), mail=True,
    ),
    # Scheduled exports: one Query for the due schedules, then an export record and its job each.
    "run_scheduled_exports": Access(
        read=("Organisation", "Account", "Group", "Metric", "SearchToken", "ExportSchedule", "Export", "Job"),
        write=("ExportSchedule", "Export", "Job", "Activity"), send_queues=("JobQueue",),
    ),
    # Jobs queue -> one step of a background job (imports, bulk actions, group deletes, exports): what the
    # API may do, since the steps do it on a person's behalf.
    "run_jobs": Access(
        read=ALL_TABLES,
        write=tuple(t for t in ALL_TABLES if t != "SearchToken"),  # Metric: the reconciliation's repairs
        get_objects=("uploads/", "exports/", "reports/", "plans/", "reconcile/"),
        put_objects=("exports/", "reports/", "plans/", "reconcile/"),
        delete_objects=("uploads/", "exports/"),  # exports/: an export's sorted runs, once merged
        consume_queues=("JobQueue",), send_queues=("JobQueue", "MailQueue"),
        mail=True,
    ),
    # Mail queue -> invitation emails at SES's sending rate; the outcome on each account.
    "send_mail": Access(
        read=("Account", "Lookup"), write=("Account", "Lookup"),
        consume_queues=("MailQueue",), send_queues=("MailQueue",), mail=True,
        extra=({"Sid": "SendQuota", "Effect": "Allow", "Action": ["ses:GetSendQuota"], "Resource": ["*"]},),
    ),
    # Every minute: re-queue running jobs whose lease ran out (one Query when none did).
    "sweep_jobs": Access(read=("Job",), write=("Job",), send_queues=("JobQueue",)),
    # SES bounce/complaint notifications (SNS) -> mark the invitation's row.
    "ses_feedback": Access(read=("Account", "Lookup"), write=("Account", "Lookup", "Activity")),
}


class PatternArns:
    """ARNs as patterns of the stage's names: valid in a plain policy file."""

    def __init__(self, settings):
        self.settings = settings

    def table(self, model_name: str):
        return f"arn:aws:dynamodb:*:*:table/{names.table_name(self.settings, model_name)}"

    def indexes(self, model_name: str):
        return f"{self.table(model_name)}/index/*"

    def stream(self, model_name: str):
        return f"{self.table(model_name)}/stream/*"

    def objects(self, prefix: str):
        return f"arn:aws:s3:::{self.settings.table_prefix}files-*/{prefix}*"

    def queue(self, logical_id: str):
        return f"arn:aws:sqs:*:*:{names.queue_name(self.settings, logical_id)}"

    def mail_identity(self):
        return f"arn:aws:ses:*:*:identity/{self.settings.mail_domain}"

    def configuration_set(self):
        return f"arn:aws:ses:*:*:configuration-set/{names.configuration_set(self.settings)}"

    def logs(self):
        return "arn:aws:logs:*:*:log-group:/aws/lambda/*"

    def key(self):
        """(resource, condition): any key, as long as it carries the stage's alias."""
        return ("arn:aws:kms:*:*:key/*",
                {"ForAnyValue:StringEquals": {"kms:ResourceAliases": names.key_alias(self.settings)}})


class StackArns:
    """ARNs of the stack's own resources, resolved by CloudFormation."""

    def __init__(self, settings):
        self.settings = settings

    def table(self, model_name: str):
        return {"Fn::GetAtt": [names.table_id(model_name), "Arn"]}

    def indexes(self, model_name: str):
        return {"Fn::Sub": "${%s.Arn}/index/*" % names.table_id(model_name)}

    def stream(self, model_name: str):
        return {"Fn::GetAtt": [names.table_id(model_name), "StreamArn"]}

    def objects(self, prefix: str):
        return {"Fn::Sub": "${%s.Arn}/%s*" % (names.BUCKET, prefix)}

    def queue(self, logical_id: str):
        return {"Fn::GetAtt": [logical_id, "Arn"]}

    def mail_identity(self):
        return {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/%s"
                % self.settings.mail_domain}

    def configuration_set(self):
        return {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${%s}"
                % names.CONFIGURATION_SET}

    def logs(self):
        return {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/*"}

    def key(self):
        return ({"Fn::GetAtt": [names.STACK_KEY, "Arn"]}, None)


def _statement(sid: str, actions, resources, condition=None) -> dict:
    statement = {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}
    if condition:
        statement["Condition"] = condition
    return statement


def access_for(function: str) -> Access:
    if function not in ACCESS:
        raise KeyError(f"function {function} has no entry in deploy/policies.py ACCESS: "
                       f"declare the tables, bucket prefixes, queues and mail it needs")
    return ACCESS[function]


def policy(function: str, arns) -> dict:
    """The IAM policy document of one function."""
    access = access_for(function)
    key, key_condition = arns.key()
    statements = [_statement("Logs", LOG_ACTIONS, [arns.logs()]),
                  _statement("UseStackKey", KEY_ACTIONS, [key], key_condition),
                  # Lambda's own delivery of a failed asynchronous invocation (every function has the DLQ).
                  _statement("DeadLetters", ["sqs:SendMessage"], [arns.queue(names.FUNCTION_DLQ)])]
    if access.read:
        resources = [r for t in access.read for r in (arns.table(t), arns.indexes(t))]
        statements.append(_statement("ReadTables", READ_ACTIONS, resources))
    if access.write:
        statements.append(_statement("WriteTables", WRITE_ACTIONS, [arns.table(t) for t in access.write]))
    if access.stream:
        statements.append(_statement("ReadStreams", STREAM_ACTIONS, [arns.stream(t) for t in access.stream]))
    for sid, action, prefixes in (("GetObjects", "s3:GetObject", access.get_objects),
                                  ("PutObjects", "s3:PutObject", access.put_objects),
                                  ("DeleteObjects", "s3:DeleteObject", access.delete_objects)):
        if prefixes:
            statements.append(_statement(sid, [action], [arns.objects(p) for p in prefixes]))
    if access.consume_queues:
        statements.append(_statement("ConsumeQueues", QUEUE_CONSUME_ACTIONS,
                                     [arns.queue(q) for q in access.consume_queues]))
    if access.send_queues:
        statements.append(_statement("SendToQueues", ["sqs:SendMessage"], [arns.queue(q) for q in access.send_queues]))
    if access.mail:
        # Only from the configured address, whatever the identity would allow.
        statements.append(_statement("SendMail", MAIL_ACTIONS, [arns.mail_identity(), arns.configuration_set()],
                                     {"StringEquals": {"ses:FromAddress": arns.settings.mail_address}}))
        # SES (v1) templates take no resource-level permission: the app registers its rendered email.
        statements.append(_statement("MailTemplates", ["ses:CreateTemplate", "ses:GetTemplate"], ["*"]))
    statements.extend(access.extra)
    return {"Version": "2012-10-17", "Statement": statements}


def policy_file_name(stage: str, function: str) -> str:
    return f"policy-{stage}.json" if function == "api_handler" else f"policy-{stage}-{function}.json"


def write_policy_files(settings, functions) -> list:
    """Rewrite .chalice/policy-<stage>*.json for these functions; returns the paths."""
    from deploy.settings import PROJECT

    written = []
    for function in functions:
        path = PROJECT / ".chalice" / policy_file_name(settings.stage, function)
        path.write_text(json.dumps(policy(function, PatternArns(settings)), indent=2) + "\n")
        written.append(path)
    return written


def main(argv=None) -> int:
    """`python -m deploy.policies --stage prod`: rewrite the stage's policy files."""
    import argparse

    from deploy.settings import SettingError, load

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--region", default="eu-west-1")
    args = parser.parse_args(argv)
    try:
        settings = load(args.stage, args.region)
    except SettingError as problem:
        print(f"deploy: {problem}", file=sys.stderr)
        return 2
    for path in write_policy_files(settings, ACCESS):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
