"""The stack's production posture, as checkov (a widely used infrastructure-as-code
scanner) judges it: `make test` runs checkov on the packaged prod template
(tests/test_package.py) and expects zero failed checks.

Most checks are met in the template (deploy/resources.py, deploy/functions.py).
Each check it does not meet is skipped here, on the resources it names, with
the reason a security reviewer can weigh; `annotate` writes them into the
packaged template as checkov's `Metadata.checkov.skip`. What each choice costs,
met or skipped, is in docs/capacity.md (`cost_section`, used by tools/capacity.py).
"""
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

from deploy import names
from deploy.settings import PROJECT

FUNCTION = "AWS::Serverless::Function"
# check id -> (resource types or logical ids it applies to, reason)
SKIPS = {
    "CKV_AWS_117": ((FUNCTION,), "No VPC: the functions reach only AWS APIs (DynamoDB, S3, SES, SQS, KMS) over TLS "
                    "with IAM, and nothing private; a VPC would need a NAT gateway (about $33/month per AZ plus "
                    "$0.048/GB) or interface endpoints (about $7.50/month each per AZ) and add cold-start time."),
    "CKV_AWS_120": (("AWS::Serverless::Api",), "Every page is per-user and marked no-store; an API Gateway cache "
                    "(from $0.02/hour) could only serve one person's page to another. Static files are cached by "
                    "CloudFront instead (StaticDistribution)."),
    "CKV_AWS_18": ((names.LOG_BUCKET,), "This is the access-log bucket: logging its own requests would log the "
                   "log deliveries (a loop) or need a third bucket. It is private, TLS-only, versioned, and its "
                   "logs expire after 90 days."),
    "CKV_AWS_174": ((names.STATIC_DISTRIBUTION,), "The static site uses CloudFront's own *.cloudfront.net "
                    "certificate, whose security policy CloudFront fixes (a minimum protocol can only be set with a "
                    "custom domain and an ACM certificate). It serves public, fingerprinted CSS/JS/SVG without "
                    "cookies or personal data; current browsers negotiate TLS 1.2/1.3."),
    "CKV_AWS_68": ((names.STATIC_DISTRIBUTION,), "No WAF on the static site: it serves only public, immutable "
                   "files from CloudFront's cache (GET/HEAD, no cookies, no query strings, nothing to inject into). "
                   "A web ACL costs $5/month + $1/rule/month + $0.60 per million requests."),
}


def annotate(template: dict) -> dict:
    """Add each skip, with its reason, to the resources it names (by type or logical id;
    in place; returns the template)."""
    for name, resource in template.get("Resources", {}).items():
        skips = [{"id": check, "comment": reason} for check, (targets, reason) in sorted(SKIPS.items())
                 if resource.get("Type") in targets or name in targets]
        if skips:
            resource.setdefault("Metadata", {})["checkov"] = {"skip": skips}
    return template


# What each posture choice costs a month (eu-west-1 list prices), for docs/capacity.md: the
# checks it answers, what it is, and its cost. Fixed choices first, then the skipped ones.
COSTS = [
    ("CKV_AWS_119, CKV_AWS_158, CKV_AWS_173, CKV_AWS_26, CKV_AWS_27",
     "One customer-managed KMS key (StackKey, yearly rotation) for the tables, queues, topics, log groups and "
     "the functions' environment",
     "$1/month for the key (+$1 for each of the first two rotations, so at most $3), and $0.03 per 10,000 KMS "
     "requests: DynamoDB refreshes a table key about every 5 minutes per table and caller (at most ~13 tables x "
     "9 roles x 8,640 = 1.0 million requests, $3/month), SQS once an hour per queue user (data key reuse 3,600 s), "
     "Lambda once per cold start, CloudWatch Logs per log batch. About $4-7/month, independent of organisation "
     "size."),
    ("static files", "S3 + CloudFront (StaticBucket, StaticDistribution) with fingerprinted names and "
     "`Cache-Control: public, max-age=31536000, immutable`",
     "Before, each page load's {per_page} static files came from Lambda with a 5-minute cache: for a "
     "10^6-account organisation (3 page loads a day per active account, each a miss) {before_m:,.0f} million API "
     "Gateway + Lambda requests a month, ${before_usd:,.0f}. Now a browser fetches each file once per release: at "
     "most {after_m:,.1f} million CloudFront requests a month if every account comes once "
     "(${after_usd:,.2f} at $0.012 per 10,000 after the free 10 million) and {after_gb:,.0f} GB out "
     "(${after_gb_usd:,.2f} at $0.085/GB after the free 1 TB); S3 is read once per file and edge location."),
    ("CKV_AWS_76", "API Gateway access logs (JSON, one line per request, ApiAccessLogGroup) and the account's "
     "API Gateway logging role",
     "CloudWatch Logs $0.57/GB ingested + $0.03/GB-month stored (30 days): a line is ~300 bytes, so about $0.17 per "
     "million requests."),
    ("CKV_AWS_73", "X-Ray tracing on the API stage",
     "$5 per million traces recorded and $0.50 per million retrieved; the default sampling rule records the first "
     "request each second and 5% of the rest: at 10^6 requests a month about 0.1 million traces, $0.50/month."),
    ("CKV_AWS_18, CKV_AWS_86", "S3 server access logs (files and static buckets) and CloudFront standard logs into "
     "LogBucket (expire after 90 days)",
     "Delivery is free; storage $0.023/GB-month, ~500 bytes a line; a few cents a month per million requests."),
    ("CKV_AWS_21", "Versioning on the files, static and log buckets, older versions expire after 1 day",
     "An overwritten or deleted object is billed one more day ($0.023/GB-month): cents."),
    ("CKV_AWS_116", "A dead-letter queue for every function (FunctionDeadLetterQueue, with an alarm)",
     "$0 while empty (SQS bills requests: $0.40 per million); one CloudWatch alarm $0.10/month."),
    ("CKV_AWS_115", "Reserved concurrency: the API ApiConcurrency (default {api}), the stream function {stream}, "
     "queue functions their event source's maximum (mail 2, others {queue}), SNS {topic}, schedules {schedule}",
     "$0 (reserved concurrency is free), but the account must have at least the sum + 100 unreserved "
     "(Lambda's default quota 1,000; new accounts may start lower: ask for an increase). The API's share serves "
     "~{api_rps:,.0f} requests/s at the page loads' measured ~{api_ms} ms each; a 10^6-account organisation's busiest "
     "hour needs ~{need:.0f} concurrent executions (10% of accounts active, each with a sign-in and 2 page loads)."),
]
SKIPPED_COSTS = {
    "CKV_AWS_117": "NAT gateway $33/month per AZ + $0.048/GB, or interface endpoints $7.50/month each per AZ "
                   "(5 services x 2 AZ = $75/month)",
    "CKV_AWS_120": "API Gateway cache from $0.02/hour ($14.60/month for 0.5 GB)",
    "CKV_AWS_18": "a third bucket; nothing to gain",
    "CKV_AWS_174": "$0 with a custom domain (ACM certificates are free) but a DNS name per stage",
    "CKV_AWS_68": "$5/month per web ACL + $1/rule + $0.60 per million requests",
}


STATIC_PER_PAGE = 5  # base.html's stylesheet, script and icon + a page's own one or two


def static_figures(accounts: int = 10 ** 6, active_share: float = 0.10, loads_per_day: int = 3) -> dict:
    """Static files served before (Lambda, 5-minute cache) and now (CloudFront, immutable) in a month."""
    from chalicelib.core.assets import asset_dir

    size_gb = sum(p.stat().st_size for p in asset_dir("static").iterdir() if p.is_file()) / 1e9
    before = accounts * active_share * 30 * loads_per_day * STATIC_PER_PAGE
    after = accounts * len(list(asset_dir("static").iterdir()))
    after_gb = accounts * size_gb
    return {"per_page": STATIC_PER_PAGE, "before_m": before / 1e6, "before_usd": before * (3.50 + 0.20) / 1e6,
            "after_m": after / 1e6, "after_usd": max(0, after - 1e7) * 0.012 / 1e4, "after_gb": after_gb,
            "after_gb_usd": max(0.0, after_gb - 1000) * 0.085}


def reserved_total(app) -> int:
    """The reserved concurrency of every function at the defaults (the API's parameter included)."""
    from deploy import functions

    return sum(functions.API_CONCURRENCY if f.kind == "api" else functions.reserved_concurrency(f)
               for f in functions.functions_of(app))


def cost_section(api_ms: float = 60.0, app=None) -> list:
    """The capacity document's section on posture: each choice, the checks it answers, its cost;
    then the quotas the stack's own choices meet."""
    from deploy import functions

    if app is None:
        from app import app
    api = functions.API_CONCURRENCY
    need = 10 ** 6 * 0.10 * (api_ms * 2 + 700) / 1000 / 3600
    values = {"api": api, "api_rps": api * 1000 / api_ms, "api_ms": f"{api_ms:.0f}", "need": need,
              **functions.CONCURRENCY, **static_figures()}
    lines = ["## Production posture: what each choice costs", "",
             "checkov runs on the packaged prod template in `make test` (deploy/posture.py) with zero failed "
             "checks. Fixed in the template, with their monthly cost (eu-west-1 list prices):", "",
             "| checks | choice | cost |", "|---|---|---|"]
    for checks, choice, cost in COSTS:
        lines.append(f"| {checks} | {choice.format(**values)} | {cost.format(**values)} |")
    lines += ["", "Skipped on their resources, with the reason checkov records and what doing them would cost:", "",
              "| check | reason | cost instead |", "|---|---|---|"]
    for check, (_targets, reason) in sorted(SKIPS.items()):
        lines.append(f"| `{check}` | {reason} | {SKIPPED_COSTS[check]} |")
    total = reserved_total(app)
    lines += ["", "### Quotas the stack's own choices meet", "",
              f"- **Lambda concurrency**: the functions reserve {total:,} executions in all (the API {api:,}); "
              f"Lambda keeps 100 unreserved, so the account's concurrency quota must be at least {total + 100:,} "
              "(default 1,000; lower ApiConcurrency or ask for more).",
              "- **KMS**: 50,000 symmetric requests/s per account in eu-west-1 (5,500-10,000 in smaller regions), "
              "shared by every key: DynamoDB, SQS and Lambda cache data keys, so the stack makes a few requests "
              "a minute, not one per request.",
              "- **CloudFront**: 250,000 requests/s and 150 Gbps per distribution; static files are "
              "served from the edge after the first request per file and edge location.",
              "- **API Gateway access logs and X-Ray**: no quota of their own; X-Ray's default sampling (1 "
              "request/s + 5%) bounds the traces recorded.", ""]
    return lines


# checkov pins boto3 1.35 against the app's 1.44: it lives in a virtualenv of its own.
CHECKOV_VENV = PROJECT / ".venv-checkov"
CHECKOV_REQUIREMENTS = PROJECT / "requirements-checkov.txt"


def checkov_path() -> Path:
    """The checkov command, installed into its own virtualenv on first use (as `make test` does)."""
    command = CHECKOV_VENV / "bin" / "checkov"
    marker = CHECKOV_VENV / ".installed"
    if not marker.exists() or marker.stat().st_mtime < CHECKOV_REQUIREMENTS.stat().st_mtime:
        venv.create(CHECKOV_VENV, with_pip=True)
        subprocess.run([str(CHECKOV_VENV / "bin" / "pip"), "install", "--disable-pip-version-check", "-q", "-r",
                        str(CHECKOV_REQUIREMENTS)], check=True)
        marker.touch()
    return command


def scan(template_path: Path) -> dict:
    """checkov's JSON report of one CloudFormation template (offline: no guideline download)."""
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run([str(checkov_path()), "-f", str(template_path), "--framework", "cloudformation",
                           "--skip-download", "--compact", "-o", "json"],
                          capture_output=True, text=True, env=env, timeout=600)
    report = json.loads(done.stdout)
    return report[0] if isinstance(report, list) else report


if __name__ == "__main__":
    found = scan(Path(sys.argv[1]))
    print(json.dumps(found["summary"]))
    for failed in found["results"]["failed_checks"]:
        print(failed["check_id"], failed["resource"], failed["check_name"])
