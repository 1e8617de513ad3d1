"""The AWS package (issue 5): the template agrees with the models, the built
package holds the templates and static files and renders a page as Lambda
would run it, cfn-lint finds no error, and bad settings stop the build by name.
Issue 14: the static site (S3 + CloudFront) and the stack's production posture
(checkov: no failed check, a short list of skips, each with its reason)."""
import copy
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from chalice import Chalice

from app import app
from chalicelib.core.models import ALL_MODELS
from deploy import functions, names, package, policies, tables, template
from deploy.settings import PROJECT, SettingError, load

REGION = "eu-west-1"
PREFIX = "caseload-prod-"


@pytest.fixture(scope="module")
def settings():
    return load("prod", REGION)


@pytest.fixture(scope="module")
def merge_template(settings):
    return template.build(settings, app)


@pytest.fixture(scope="session")
def packaged(tmp_path_factory) -> Path:
    """`make package STAGE=prod`, once for the run (offline: fake credentials)."""
    out = tmp_path_factory.mktemp("package") / "package-prod"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run([sys.executable, "-m", "deploy.package", "--stage", "prod", "--region", REGION,
                           "--out", str(out)], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="session")
def unpacked(packaged, tmp_path_factory) -> tuple:
    """The package unzipped as Lambda lays it out: (function folder, layer site-packages)."""
    return package.unpack(packaged, tmp_path_factory.mktemp("lambda"))


@pytest.fixture(scope="session")
def sam(packaged) -> dict:
    return json.loads((packaged / "sam.json").read_text())


# --- (a) one source of truth: every table in the template is its model ---------


def test_every_model_has_an_identical_table_in_the_merge_template(merge_template):
    for model in ALL_MODELS:
        resource = merge_template["Resources"][tables.logical_id(model)]
        assert tables.differences(model, resource, PREFIX) == [], model.__name__


def test_every_model_has_an_identical_table_in_the_packaged_template(sam):
    table_ids = {name for name, r in sam["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"}
    assert table_ids == {tables.logical_id(model) for model in ALL_MODELS}
    for model in ALL_MODELS:
        assert tables.differences(model, sam["Resources"][tables.logical_id(model)], PREFIX) == []


def test_tables_are_on_demand_recoverable_and_protected_in_prod(merge_template):
    for model in ALL_MODELS:
        properties = merge_template["Resources"][tables.logical_id(model)]["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert properties["DeletionProtectionEnabled"] is True
    accounts = merge_template["Resources"]["AccountTable"]["Properties"]
    assert accounts["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert merge_template["Resources"]["SessionTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at", "Enabled": True}


def test_no_table_has_more_indexes_than_dynamodb_allows():
    """20 global secondary indexes per table is DynamoDB's default quota; moto does not enforce it."""
    for model in ALL_MODELS:
        assert len(model._indexes) <= 20, model.__name__


def _emulator_table(model) -> dict:
    """The emulator's table (made by pynamodb from the model), in the template's shape."""
    from chalicelib.core import aws

    client = aws.client("dynamodb")
    table = client.describe_table(TableName=model.Meta.table_name)["Table"]
    properties = {key: table[key] for key in ("TableName", "KeySchema", "AttributeDefinitions")}
    properties["GlobalSecondaryIndexes"] = [
        {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
        for index in table.get("GlobalSecondaryIndexes", [])]
    if table.get("StreamSpecification", {}).get("StreamEnabled"):
        properties["StreamSpecification"] = {"StreamViewType": table["StreamSpecification"]["StreamViewType"]}
    ttl = client.describe_time_to_live(TableName=model.Meta.table_name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        properties["TimeToLiveSpecification"] = {"AttributeName": ttl["AttributeName"], "Enabled": True}
    return {"Properties": properties}


def test_the_emulator_tables_match_the_template(merge_template):
    """What `make run` and the tests use is what production gets."""
    from chalicelib.core import config

    for model in ALL_MODELS:
        local = tables.describe_resource(_emulator_table(model), config.table_prefix())
        deployed = tables.describe_resource(merge_template["Resources"][tables.logical_id(model)], PREFIX)
        assert local == deployed, model.__name__


def _alter(resource: dict, change) -> dict:
    altered = copy.deepcopy(resource)
    change(altered["Properties"])
    return altered


ALTERATIONS = {
    "range key": lambda p: p["KeySchema"].pop(),
    "key type": lambda p: p["AttributeDefinitions"][0].update(AttributeType="N"),
    "index dropped": lambda p: p["GlobalSecondaryIndexes"].pop(),
    "projection": lambda p: p["GlobalSecondaryIndexes"][0]["Projection"].update(ProjectionType="ALL"),
    "non-key attributes": lambda p: p["GlobalSecondaryIndexes"][-1]["Projection"]["NonKeyAttributes"].pop(),
    "stream view": lambda p: p["StreamSpecification"].update(StreamViewType="NEW_IMAGE"),
    "table name": lambda p: p.update(TableName=PREFIX + "people"),
    "billing": lambda p: p.update(BillingMode="PROVISIONED"),
}


@pytest.mark.parametrize("alteration", sorted(ALTERATIONS))
def test_the_comparator_finds_an_altered_table(merge_template, alteration):
    from chalicelib.core.models import Account

    resource = _alter(merge_template["Resources"]["AccountTable"], ALTERATIONS[alteration])
    assert tables.differences(Account, resource, PREFIX), alteration


def test_the_comparator_finds_a_missing_ttl(merge_template):
    from chalicelib.core.models import Session

    resource = _alter(merge_template["Resources"]["SessionTable"], lambda p: p.pop("TimeToLiveSpecification"))
    assert tables.differences(Session, resource, PREFIX) == [
        "Session.ttl: model 'expires_at', template None"]


# --- (b) the package holds what the pages need and renders one ------------------


def test_the_function_zip_is_small_and_holds_templates_and_static_files(packaged):
    sizes = package.zip_sizes(packaged)
    assert sizes["deployment.zip"] < 1_000_000, sizes  # dependencies are in the layer
    with zipfile.ZipFile(packaged / "deployment.zip") as archive:
        inside = set(archive.namelist())
    assert "chalicelib/assets/static/app.css" in inside
    html = {n for n in inside if n.startswith("chalicelib/assets/templates/") and n.endswith(".html")}
    assert "chalicelib/assets/templates/auth/signin.html" in html
    assert len(html) == len(list((PROJECT / "templates").rglob("*.html")))
    assert not any(n.startswith(("tools/", "chalicelib/local/")) for n in inside), "the emulator stays on laptops"


API_EVENT = {
    "resource": "/signin", "path": "/signin", "httpMethod": "GET",
    "headers": {"Accept": "text/html", "User-Agent": "pytest", "X-Forwarded-For": "203.0.113.9",
                "Host": "caseload.example.org"},
    "multiValueHeaders": None, "queryStringParameters": None, "multiValueQueryStringParameters": None,
    "pathParameters": None, "stageVariables": None, "body": None, "isBase64Encoded": False,
    "requestContext": {"resourcePath": "/signin", "httpMethod": "GET", "path": "/api/signin", "stage": "api",
                       "requestId": "test", "identity": {"sourceIp": "203.0.113.9"}},
}
# Run with `python -S`: nothing but the unzipped function and layer is importable.
INVOKE = """
import json, sys
from app import app

class Context:
    function_name, aws_request_id, memory_limit_in_mb = "APIHandler", "test", 128
    def get_remaining_time_in_millis(self):
        return 30000

for path in sys.argv[2:]:
    event = json.loads(sys.argv[1])
    event["path"] = event["resource"] = event["requestContext"]["resourcePath"] = path
    print("RESULT", json.dumps(app(event, Context())))
"""


def _results(stdout: str) -> list:
    return [json.loads(line[len("RESULT "):]) for line in stdout.splitlines() if line.startswith("RESULT ")]


def test_the_unzipped_package_renders_the_sign_in_page_as_lambda_would(unpacked):
    code, layer_site = unpacked
    # The moto server and the local tables of this test run stand in for AWS.
    env = package.lambda_env(code, layer_site, dict(os.environ))
    done = subprocess.run([sys.executable, "-S", "-c", INVOKE, json.dumps(API_EVENT), "/signin"], cwd=code,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [signin] = _results(done.stdout)
    assert signin["statusCode"] == 200, signin
    assert signin["headers"]["Content-Type"].startswith("text/html")
    assert '<form' in signin["body"] and 'name="password"' in signin["body"]


def test_static_files_come_from_the_package(unpacked):
    code, layer_site = unpacked
    event = {**API_EVENT, "pathParameters": {"name": "app.css"}}
    env = package.lambda_env(code, layer_site, dict(os.environ))
    done = subprocess.run([sys.executable, "-S", "-c", INVOKE, json.dumps(event), "/static/{name}"], cwd=code,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [css] = _results(done.stdout)
    assert css["statusCode"] == 200 and css["headers"]["Content-Type"].startswith("text/css")
    assert css["body"] == (PROJECT / "static" / "app.css").read_text(encoding="utf-8")


# --- (c) the packaged template is valid CloudFormation --------------------------


def test_cfn_lint_finds_no_error_in_the_packaged_template(packaged):
    lint = Path(sys.executable).parent / "cfn-lint"
    done = subprocess.run([str(lint), str(packaged / "sam.json")], capture_output=True, text=True, timeout=120)
    assert done.returncode & 2 == 0, done.stdout + done.stderr  # 2 = errors; 4 = warnings only


def test_the_merge_left_no_half_merged_value(sam):
    assert package.merge_problems(sam) == []
    variables = sam["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["CASELOAD_BUCKET"] == {"Ref": names.BUCKET}
    assert variables["CASELOAD_UPLOAD_QUEUE_URL"] == {"Ref": names.UPLOAD_QUEUE}
    assert variables["CASELOAD_TABLE_PREFIX"] == PREFIX
    assert variables["CASELOAD_PUBLIC_URL"] == {"Ref": "PublicUrl"}
    assert sam["Parameters"]["PublicUrl"]["Default"] == "https://caseload.example.org"


def test_the_stack_has_the_bucket_queue_mail_and_alarms(sam):
    resources = sam["Resources"]
    bucket = resources[names.BUCKET]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    rules = {r["Prefix"]: r["ExpirationInDays"] for r in bucket["LifecycleConfiguration"]["Rules"] if "Prefix" in r}
    assert rules == {"uploads/": 7, "exports/": 30, "reconcile/": 1}  # reconcile/: partial counts of a job
    [notification] = bucket["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "uploads/"}]
    assert resources[names.UPLOAD_QUEUE]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5
    assert resources["MailEventDestination"]["Properties"]["EventDestination"]["SnsDestination"] == {
        "TopicARN": {"Ref": names.MAIL_EVENTS_TOPIC}}
    assert "UploadDeadLetterAlarm" in resources and "APIHandlerErrorsAlarm" in resources


def test_api_gateways_own_answers_carry_the_security_headers_and_the_error_shape(sam):
    """A path deeper than any route is answered by API Gateway, not the app (403 "Missing
    Authentication Token"): it too is nosniff, unframeable, HSTS, and {"code", "message"}."""
    responses = sam["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        headers = responses[kind]["ResponseParameters"]["Headers"]
        assert headers["X-Content-Type-Options"] == "'nosniff'" and headers["X-Frame-Options"] == "'DENY'"
        assert headers["Strict-Transport-Security"].startswith("'max-age=") and headers["Cache-Control"] == "'no-store'"
        assert '"code": "$context.error.responseType"' in responses[kind]["ResponseTemplates"]["application/json"]


# --- event handlers: what the lead's stream/schedule/queue/topic handlers get ----


def _handlers_app(queue="caseload-prod-uploads", name="aggregate_account_changes") -> Chalice:
    probe = Chalice(app_name="caseload")

    @probe.route("/")
    def index():
        return {}

    probe.on_dynamodb_record(
        stream_arn="arn:aws:dynamodb:eu-west-1:123456789012:table/caseload-local-accounts/stream/1970",
        name=name)(lambda event: None)
    probe.schedule("rate(1 hour)", name="reconcile_metrics")(lambda event: None)
    probe.on_sqs_message(queue=queue, name="invite_uploads")(lambda event: None)
    probe.on_sns_message(topic="caseload-prod-mail-events", name="ses_feedback")(lambda event: None)
    probe.lambda_function(name="import_upload_direct")(lambda event, context: None)
    return probe


def test_the_stream_handler_gets_the_table_stream_and_bounded_retries(settings, monkeypatch):
    monkeypatch.setitem(policies.ACCESS, "import_upload_direct", policies.Access())
    sections = functions.function_sections(settings, _handlers_app())
    event = sections["AggregateAccountChanges"]["Properties"]["Events"]["AggregateAccountChangesDynamodbEventSource"]
    properties = event["Properties"]
    assert properties["Stream"] == {"Fn::GetAtt": ["AccountTable", "StreamArn"]}
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["BisectBatchOnFunctionError"] is True
    assert properties["MaximumRetryAttempts"] == 5
    assert properties["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": [names.STREAM_FAILURE_QUEUE, "Arn"]}
    statements = sections["AggregateAccountChangesRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert {"Fn::GetAtt": ["AccountTable", "StreamArn"]} in next(s for s in statements
                                                                if s["Sid"] == "ReadStreams")["Resource"]
    for function in ("AggregateAccountChanges", "ReconcileMetrics", "InviteUploads", "SesFeedback"):
        assert f"{function}ErrorsAlarm" in sections
    assert sections["SesFeedback"]["DependsOn"] == [names.MAIL_EVENTS_TOPIC]


def test_every_kind_of_function_is_found():
    kinds = {f.name: f.kind for f in functions.functions_of(_handlers_app())}
    assert kinds == {"api_handler": "api", "aggregate_account_changes": "stream", "reconcile_metrics": "schedule",
                     "invite_uploads": "queue", "ses_feedback": "topic", "import_upload_direct": "lambda"}


def test_a_handler_on_a_queue_the_stack_lacks_stops_the_build(settings, monkeypatch):
    monkeypatch.setitem(policies.ACCESS, "import_upload_direct", policies.Access())
    with pytest.raises(SettingError, match="listens to queue 'caseload-prod-imports'"):
        functions.function_sections(settings, _handlers_app(queue="caseload-prod-imports"))


def test_a_handler_without_declared_access_stops_the_build(settings, monkeypatch):
    monkeypatch.setitem(policies.ACCESS, "import_upload_direct", policies.Access())
    with pytest.raises(SettingError, match="count_things has no entry in deploy/policies.py ACCESS"):
        functions.function_sections(settings, _handlers_app(name="count_things"))


@pytest.mark.parametrize("stage", ["prod", "dev"])
def test_policy_files_are_generated_from_deploy_policies(stage):
    """`python -m deploy.policies --stage STAGE` writes them: they never drift from ACCESS."""
    stage_settings = load(stage, REGION)
    config = json.loads((PROJECT / ".chalice" / "config.json").read_text())["stages"][stage]
    assert config["iam_policy_file"] == policies.policy_file_name(stage, functions.API_FUNCTION)
    for function in policies.ACCESS:
        name = policies.policy_file_name(stage, function)
        if function != functions.API_FUNCTION:
            assert config["lambda_functions"][function]["iam_policy_file"] == name
        expected = policies.policy(function, policies.PatternArns(stage_settings))
        assert json.loads((PROJECT / ".chalice" / name).read_text()) == expected, name


def test_dev_tables_can_be_deleted_with_the_stack():
    dev = template.build(load("dev", REGION), app)
    for model in ALL_MODELS:
        table = dev["Resources"][tables.logical_id(model)]
        assert table["Properties"]["DeletionProtectionEnabled"] is False and table["DeletionPolicy"] == "Delete"


def test_mail_is_sent_only_from_the_configured_address(merge_template):
    statements = merge_template["Resources"]["ApiHandlerRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    [mail] = [s for s in statements["Statement"] if s["Sid"] == "SendMail"]
    assert mail["Condition"] == {"StringEquals": {"ses:FromAddress": "no-reply@caseload.example.org"}}


# --- (d) bad input stops the build with one line naming the setting --------------

GOOD_ENV = {"CASELOAD_STAGE": "prod", "CASELOAD_TABLE_PREFIX": PREFIX,
            "CASELOAD_MAIL_SENDER": "Caseload <no-reply@example.org>", "CASELOAD_PUBLIC_URL": "https://example.org"}


@pytest.mark.parametrize("setting, value", [
    ("CASELOAD_MAIL_SENDER", None), ("CASELOAD_MAIL_SENDER", "nobody"), ("CASELOAD_PUBLIC_URL", None),
    ("CASELOAD_PUBLIC_URL", "http://example.org"), ("CASELOAD_TABLE_PREFIX", None),
    ("CASELOAD_TABLE_PREFIX", "Caseload_Prod"), ("CASELOAD_STAGE", "dev"),
])
def test_a_missing_or_wrong_stage_setting_is_named(tmp_path, setting, value):
    env = {k: v for k, v in GOOD_ENV.items() if k != setting or value is not None}
    if value is not None:
        env[setting] = value
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"version": "2.0", "app_name": "caseload",
                                  "stages": {"prod": {"environment_variables": env}}}))
    with pytest.raises(SettingError) as problem:
        load("prod", REGION, config)
    message = str(problem.value)
    assert message.startswith(setting) and "\n" not in message


def test_a_second_build_of_a_stage_waits_for_the_first(monkeypatch, tmp_path):
    """Two builds share build/src-<stage> and its zip caches (a fresh clone's two test processes
    once read a half-written zip: BadZipFile). Whoever lays out the build holds the stage's lock."""
    import fcntl

    from deploy import package as packaging

    seen = []

    def lay_out(stage):
        with open(PROJECT / "build" / f"package-{stage}.lock", "w") as other:
            with pytest.raises(BlockingIOError):  # another build cannot start now
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        seen.append(stage)
        raise packaging.SettingError("stop here")

    monkeypatch.setattr(packaging, "lay_out", lay_out)
    monkeypatch.setattr(packaging.template, "use_stage_environment", lambda settings: None)  # keep this run's
    with pytest.raises(packaging.SettingError):
        packaging.package("prod", REGION, tmp_path / "out")
    assert seen == ["prod"]
    with open(PROJECT / "build" / "package-prod.lock", "w") as after:  # released when it ends
        fcntl.flock(after, fcntl.LOCK_EX | fcntl.LOCK_NB)


@pytest.mark.parametrize("argv, named", [
    (["--stage", "prod", "--region", "eu-wset-1"], "REGION 'eu-wset-1' is not an AWS region (did you mean eu-west-1?)"),
    (["--stage", "staging", "--region", REGION], "STAGE 'staging' is not in .chalice/config.json"),
    (["--stage", "", "--region", REGION], "STAGE is not set"),
    (["--stage", "local", "--region", REGION], "CASELOAD_TABLE_PREFIX is missing"),
])
def test_make_package_stops_on_bad_input_with_one_line(argv, named):
    done = subprocess.run([sys.executable, "-m", "deploy.package", *argv], cwd=PROJECT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"deploy: {named}"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_aws_check_names_an_unverified_sender(settings):
    """Against the emulator of this run, where only caseload.test is verified."""
    from dataclasses import replace

    from deploy import check

    unverified = replace(settings, region=os.environ["AWS_DEFAULT_REGION"])
    with pytest.raises(SettingError, match="^CASELOAD_MAIL_SENDER: neither caseload.example.org nor"):
        check.check_aws(unverified)
    verified = replace(unverified, environment={**settings.environment,
                                                "CASELOAD_MAIL_SENDER": "Caseload <no-reply@caseload.test>"})
    warnings = check.check_aws(verified)
    assert len(warnings) == 1 and "sandbox" in warnings[0]


# --- production posture: checkov on the packaged template ----------------------


def test_checkov_finds_no_unexplained_failure_in_the_packaged_template(packaged):
    from deploy import posture

    report = posture.scan(packaged / "sam.json")
    failed = [(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]]
    assert failed == [], failed
    assert report["summary"]["passed"] > 0
    skipped = report["results"]["skipped_checks"]
    assert skipped and all(len(s["check_result"]["suppress_comment"]) > 40 for s in skipped)  # each with its reason


def test_every_skip_is_one_deploy_posture_declares(packaged):
    """Nothing is skipped silently: the skipped checks are exactly deploy/posture.py's."""
    from deploy import posture

    report = posture.scan(packaged / "sam.json")
    assert {s["check_id"] for s in report["results"]["skipped_checks"]} == set(posture.SKIPS)
    assert report["summary"]["failed"] == 0 and report["summary"]["passed"] >= 200
    # Fixed, not skipped (issue 14): access logs, tracing, concurrency, DLQs, KMS on everything.
    passed = {p["check_id"] for p in report["results"]["passed_checks"]}
    assert {"CKV_AWS_76", "CKV_AWS_73", "CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_26", "CKV_AWS_27", "CKV_AWS_18",
            "CKV_AWS_21", "CKV_AWS_158", "CKV_AWS_173", "CKV_AWS_119", "CKV_AWS_7", "CKV_AWS_86"} <= passed


# --- issue 14: static files on S3 behind CloudFront -------------------------------


def test_the_package_holds_the_static_bundle_under_fingerprinted_names(packaged):
    from chalicelib.core import assets

    bundle = packaged / package.STATIC_BUNDLE
    expected = {name: assets.fingerprint_of(name, (PROJECT / "static" / name).read_bytes())
                for name in sorted(p.name for p in (PROJECT / "static").iterdir() if p.is_file())}
    assert sorted(p.name for p in bundle.iterdir()) == sorted(expected.values())
    for name, fingerprinted in expected.items():
        assert (bundle / fingerprinted).read_bytes() == (PROJECT / "static" / name).read_bytes()


def test_the_static_site_is_a_private_bucket_read_only_by_its_distribution(sam):
    resources = sam["Resources"]
    bucket = resources[names.STATIC_BUCKET]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    control = resources["StaticOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert control["OriginAccessControlOriginType"] == "s3" and control["SigningBehavior"] == "always"
    config = resources[names.STATIC_DISTRIBUTION]["Properties"]["DistributionConfig"]
    [origin] = config["Origins"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["StaticOriginAccessControl", "Id"]}
    assert origin["DomainName"] == {"Fn::GetAtt": [names.STATIC_BUCKET, "RegionalDomainName"]}
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["ViewerProtocolPolicy"] == "https-only" and behaviour["AllowedMethods"] == ["GET", "HEAD"]
    headers = resources["StaticResponseHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]
    assert headers["CustomHeadersConfig"]["Items"] == [
        {"Header": "Cache-Control", "Value": "public, max-age=31536000, immutable", "Override": True}]
    assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "StaticResponseHeaders"}
    [read] = [s for s in resources["StaticBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
              if s["Effect"] == "Allow"]
    assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"} and read["Action"] == "s3:GetObject"
    assert "${StaticDistribution}" in read["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    for function in functions.functions_of(app):
        variables = sam["Resources"][function.logical_id]["Properties"]["Environment"]["Variables"]
        assert variables["CASELOAD_STATIC_URL"] == {"Fn::Sub": "https://${StaticDistribution.DomainName}"}


# --- issue 14: the production posture, resource by resource -----------------------


def test_every_function_has_reserved_concurrency_a_dead_letter_queue_and_the_stack_key(sam):
    key = {"Fn::GetAtt": [names.STACK_KEY, "Arn"]}
    for function in functions.functions_of(app):
        resource = sam["Resources"][function.logical_id]
        properties = resource["Properties"]
        assert properties["DeadLetterQueue"]["TargetArn"] == {"Fn::GetAtt": [names.FUNCTION_DLQ, "Arn"]}
        assert properties["KmsKeyArn"] == key
        assert sam["Resources"][function.log_group_id]["Properties"]["KmsKeyId"] == key
        statements = sam["Resources"][function.role_id]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        sids = {s["Sid"]: s for s in statements}
        assert sids["UseStackKey"]["Resource"] == [key]
        assert sids["DeadLetters"]["Resource"] == [{"Fn::GetAtt": [names.FUNCTION_DLQ, "Arn"]}]
        reserved = properties["ReservedConcurrentExecutions"]
        if function.kind == "api":
            assert reserved == {"Ref": "ApiConcurrency"}
        for event in properties.get("Events", {}).values():
            if event["Type"] == "SQS":  # the source never polls more than the function may run
                assert event["Properties"]["ScalingConfig"]["MaximumConcurrency"] == reserved
    assert sam["Parameters"]["ApiConcurrency"]["Default"] == functions.API_CONCURRENCY


def test_queues_topics_and_tables_are_encrypted_with_the_stack_key(sam):
    key = {"Fn::GetAtt": [names.STACK_KEY, "Arn"]}
    resources = sam["Resources"]
    for logical_id in names.QUEUES:
        assert resources[logical_id]["Properties"]["KmsMasterKeyId"] == key, logical_id
    for logical_id in names.TOPICS:
        assert resources[logical_id]["Properties"]["KmsMasterKeyId"] == key, logical_id
    for model in ALL_MODELS:
        assert resources[tables.logical_id(model)]["Properties"]["SSESpecification"] == {
            "SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": key}
    stack_key = resources[names.STACK_KEY]["Properties"]
    assert stack_key["EnableKeyRotation"] is True
    services = set()
    for statement in stack_key["KeyPolicy"]["Statement"]:
        named = statement["Principal"].get("Service", [])
        services.update(s for s in (named if isinstance(named, list) else [named]) if isinstance(s, str))
    # Those that write into the stack's encrypted queues and topics without a role of ours.
    assert {"s3.amazonaws.com", "cloudwatch.amazonaws.com", "ses.amazonaws.com"} <= services


def test_the_api_stage_traces_and_writes_access_logs(sam):
    api = sam["Resources"]["RestAPI"]
    assert api["Properties"]["TracingEnabled"] is True
    assert api["Properties"]["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": [names.API_ACCESS_LOGS, "Arn"]}
    assert '"requestId":"$context.requestId"' in api["Properties"]["AccessLogSetting"]["Format"]
    assert api["DependsOn"] == ["ApiGatewayAccount"]
    assert sam["Resources"]["ApiGatewayCloudWatchRole"]["DeletionPolicy"] == "Retain"


def test_buckets_are_versioned_logged_and_old_versions_expire(sam):
    resources = sam["Resources"]
    for logical_id in (names.BUCKET, names.STATIC_BUCKET, names.LOG_BUCKET):
        properties = resources[logical_id]["Properties"]
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}, logical_id
        [old] = [r for r in properties["LifecycleConfiguration"]["Rules"] if "NoncurrentVersionExpiration" in r]
        assert old["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1} and old["ExpiredObjectDeleteMarker"]
    for logical_id, prefix in ((names.BUCKET, "files/"), (names.STATIC_BUCKET, "static/")):
        assert resources[logical_id]["Properties"]["LoggingConfiguration"] == {
            "DestinationBucketName": {"Ref": names.LOG_BUCKET}, "LogFilePrefix": prefix}
    logging = resources[names.STATIC_DISTRIBUTION]["Properties"]["DistributionConfig"]["Logging"]
    assert logging["Bucket"] == {"Fn::GetAtt": [names.LOG_BUCKET, "DomainName"]}


def test_the_capacity_document_prices_every_posture_choice():
    """docs/capacity.md's posture section (deploy/posture.py cost_section): every skip with its
    reason and cost, every fixed check with its cost, and the concurrency the account needs."""
    from deploy import posture

    text = "\n".join(posture.cost_section(api_ms=50, app=app))
    for check in posture.SKIPS:
        assert f"`{check}`" in text and posture.SKIPPED_COSTS[check] in text
    for checks, _choice, _cost in posture.COSTS:
        assert f"| {checks} |" in text
    total = posture.reserved_total(app)
    assert total >= functions.API_CONCURRENCY + len(functions.functions_of(app)) - 1
    assert f"at least {total + 100:,}" in text
    assert "{" not in text  # every figure filled in
