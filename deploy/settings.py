"""A stage's deploy settings, read from .chalice/config.json and checked before anything is built.

Every problem is one line that names the setting, so `make package` stops with
something an operator can act on instead of an AWS stack trace at deploy time.
"""
import argparse
import difflib
import json
import os
import re
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Dict, Optional

PROJECT = Path(__file__).resolve().parents[1]
CONFIG_FILE = PROJECT / ".chalice" / "config.json"

# What each function needs at run time; each one is an environment variable of the stage.
REQUIRED = {
    "CASELOAD_STAGE": "the stage's name, as in `--stage`",
    "CASELOAD_TABLE_PREFIX": "prefix of every table name, e.g. caseload-prod-",
    "CASELOAD_MAIL_SENDER": "the verified SES identity emails come from, e.g. Caseload <no-reply@example.org>",
    "CASELOAD_PUBLIC_URL": "the https:// address people open, which emails link to",
}
PREFIX_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}-$")


class SettingError(Exception):
    """A missing or wrong setting; the message names it."""


@dataclass(frozen=True)
class StageSettings:
    stage: str
    region: str
    environment: Dict[str, str]
    api_gateway_stage: str
    log_retention_days: Optional[int] = None

    @property
    def table_prefix(self) -> str:
        return self.environment["CASELOAD_TABLE_PREFIX"]

    @property
    def mail_address(self) -> str:
        return parseaddr(self.environment["CASELOAD_MAIL_SENDER"])[1].lower()

    @property
    def mail_domain(self) -> str:
        return self.mail_address.rpartition("@")[2]

    @property
    def production(self) -> bool:
        return self.stage == "prod"


def known_regions() -> list:
    """Regions from botocore's bundled endpoint data (no network): Lambda's, which SES also needs."""
    import boto3

    return boto3.session.Session().get_available_regions("lambda")


def check_region(region: Optional[str]) -> str:
    if not region:
        raise SettingError("REGION is not set: run `make package STAGE=prod REGION=eu-west-1`.")
    regions = known_regions()
    if region not in regions:
        near = difflib.get_close_matches(region, regions, n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise SettingError(f"REGION '{region}' is not an AWS region{hint}.")
    return region


def _check_environment(stage: str, environment: Dict[str, str]) -> None:
    where = f".chalice/config.json stages.{stage}.environment_variables"
    for name, meaning in REQUIRED.items():
        if not str(environment.get(name, "")).strip():
            raise SettingError(f"{name} is missing in {where}: {meaning}.")
    if environment["CASELOAD_STAGE"] != stage:
        raise SettingError(f"CASELOAD_STAGE in {where} is '{environment['CASELOAD_STAGE']}', not '{stage}'.")
    if not PREFIX_PATTERN.match(environment["CASELOAD_TABLE_PREFIX"]):
        raise SettingError(f"CASELOAD_TABLE_PREFIX in {where} must be lower-case letters, digits and '-', "
                           f"ending in '-' (e.g. caseload-{stage}-).")
    address = parseaddr(environment["CASELOAD_MAIL_SENDER"])[1]
    local, _, domain = address.rpartition("@")
    if not local or "." not in domain:
        raise SettingError(f"CASELOAD_MAIL_SENDER in {where} is not an email address of a verified SES identity.")
    url = environment["CASELOAD_PUBLIC_URL"]
    if not re.match(r"^https://[^/\s]+(/\S*)?$", url):
        raise SettingError(f"CASELOAD_PUBLIC_URL in {where} must be an https:// address.")
    if "CASELOAD_SECRET_KEY" in environment:
        raise SettingError(f"CASELOAD_SECRET_KEY must not be in {where}: it is the stack parameter SecretKey.")


def load(stage: str, region: Optional[str], config_file: Path = CONFIG_FILE) -> StageSettings:
    """The checked settings of one stage; SettingError names the first problem."""
    if not stage:
        raise SettingError("STAGE is not set: run `make package STAGE=prod`.")
    region = check_region(region)
    try:
        config = json.loads(Path(config_file).read_text())
    except (OSError, ValueError) as exc:
        raise SettingError(f"{config_file} cannot be read: {exc}.") from None
    stages = config.get("stages", {})
    if stage not in stages:
        raise SettingError(f"STAGE '{stage}' is not in .chalice/config.json stages ({', '.join(sorted(stages))}).")
    stage_config = stages[stage]
    environment = {**config.get("environment_variables", {}), **stage_config.get("environment_variables", {})}
    _check_environment(stage, environment)
    api_stage = stage_config.get("api_gateway_stage") or config.get("api_gateway_stage") or "api"
    retention = stage_config.get("log_retention_in_days", config.get("log_retention_in_days"))
    return StageSettings(stage, region, environment, api_stage, retention)


def stage_arguments(description: str, argv=None) -> argparse.Namespace:
    """The deploy commands' arguments: --stage and --region (from STAGE and AWS_DEFAULT_REGION), --out."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--stage", default=os.environ.get("STAGE", ""))
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", ""))
    parser.add_argument("--out", default="")
    return parser.parse_args(argv)
