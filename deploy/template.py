"""`python -m deploy.template --stage prod --region eu-west-1 [--out FILE]`

Writes the template that `chalice package --merge-template` merges over
Chalice's output: every table from the pynamodb models, the files bucket,
upload queue, mail configuration set, alarms, and per-function environment,
policies and event settings (deploy.functions). Checks the stage settings
first and stops with a one-line message naming a bad one.
"""
import json
import os
import sys
from pathlib import Path

from deploy import functions, names, resources
from deploy.settings import PROJECT, SettingError, StageSettings, load, stage_arguments


def parameters(settings: StageSettings) -> dict:
    """Deploy-time values. PublicUrl and BasePath default to the stage settings and
    can be changed at deploy time (e.g. to API Gateway's address) without a new package."""
    return {
        "PublicUrl": {"Type": "String", "Default": settings.environment["CASELOAD_PUBLIC_URL"],
                      "AllowedPattern": r"^https://[^/\s]+(/\S*)?$",
                      "Description": "The https address people open, which emails link to."},
        "BasePath": {"Type": "String", "Default": settings.environment.get("CASELOAD_BASE_PATH", ""),
                     "AllowedPattern": r"^(/[A-Za-z0-9_-]+)*$",
                     "Description": "/api when people use API Gateway's own address; empty with a custom domain."},
        "SecretKey": {"Type": "String", "NoEcho": True, "MinLength": 32,
                      "Description": "Key for the app's HMACs (CSRF, cursors); changing it signs everyone out. "
                                     "Make one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"},
        "ApiConcurrency": {"Type": "Number", "Default": functions.API_CONCURRENCY, "MinValue": 1,
                           "Description": "Reserved concurrency of the API function (docs/capacity.md). The "
                                          "account keeps 100 unreserved: its quota must exceed the sum."},
        "AlarmEmail": {"Type": "String", "Default": "",
                       "Description": "Optional address that receives alarm emails (confirm the subscription)."},
    }


def outputs() -> dict:
    return {
        "BucketName": {"Value": {"Ref": names.BUCKET}},
        "UploadQueueUrl": {"Value": {"Ref": names.UPLOAD_QUEUE}},
        "StreamFailureQueueUrl": {"Value": {"Ref": names.STREAM_FAILURE_QUEUE}},
        "MailConfigurationSet": {"Value": {"Ref": names.CONFIGURATION_SET}},
        "MailEventsTopicArn": {"Value": {"Ref": names.MAIL_EVENTS_TOPIC}},
        "AlarmTopicArn": {"Value": {"Ref": names.ALARM_TOPIC}},
        "StaticBucketName": {"Value": {"Ref": names.STATIC_BUCKET}},
        "StaticUrl": {"Value": {"Fn::Sub": "https://${%s.DomainName}" % names.STATIC_DISTRIBUTION}},
        "FunctionDeadLetterQueueUrl": {"Value": {"Ref": names.FUNCTION_DLQ}},
    }


def use_stage_environment(settings: StageSettings) -> None:
    """The stage's environment, as Lambda and `chalice package` import the app with.
    Must run before chalicelib.core.models is imported: table and queue names come from it."""
    os.environ.update(settings.environment)


def load_app(settings: StageSettings):
    """The app as Lambda will import it: with the stage's environment."""
    use_stage_environment(settings)
    if str(PROJECT) not in sys.path:
        sys.path.insert(0, str(PROJECT))
    from app import app

    return app


def build(settings: StageSettings, app=None) -> dict:
    """The merge template for one stage (a dict, ready for json.dump)."""
    from deploy import tables

    app = app if app is not None else load_app(settings)
    template_resources = {}
    template_resources.update(resources.stack_key(settings))
    template_resources.update(tables.table_resources(settings.table_prefix, deletion_protection=settings.production,
                                                     key=resources.key_arn()))
    template_resources.update(resources.bucket(settings))
    template_resources.update(resources.log_bucket(settings))
    template_resources.update(resources.static_site(settings))
    template_resources.update(resources.api_logging(settings))
    template_resources.update(resources.queues(settings))
    template_resources.update(resources.mail(settings))
    template_resources.update(resources.alarms(settings))
    template_resources.update(functions.function_sections(settings, app))
    return {
        "Description": f"Caseload, stage {settings.stage}: API, event functions, tables, buckets, queues, mail, "
                       f"static site.",
        "Parameters": parameters(settings),
        "Conditions": {"HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}},
        "Resources": template_resources,
        "Outputs": outputs(),
    }


def main(argv=None) -> int:
    args = stage_arguments(__doc__.splitlines()[0], argv)
    try:
        settings = load(args.stage, args.region)
        use_stage_environment(settings)
        template = build(settings)
    except SettingError as problem:
        print(f"deploy: {problem}", file=sys.stderr)
        return 2
    out = Path(args.out or PROJECT / "build" / f"merge-{settings.stage}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(template, indent=2) + "\n")
    print(f"deploy: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
