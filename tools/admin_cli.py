"""Operator commands for a deployed stack, run from a laptop with AWS credentials.

    python -m tools.admin_cli --stage prod --region eu-west-1 \\
        create-org --name "Northside Employment Centre" --admin-email ada@example.org --admin-name "Ada Admin"

Creates the organisation and its first admin (activated, with the password you
type twice), then prints the sign-in address and the organisation's account
link. `--stage` takes the table prefix and public URL from .chalice/config.json;
without it the current environment's settings are used (as in the tests).
"""
import argparse
import getpass
import json
import os
import sys
from pathlib import Path

CONFIG_FILE = Path(__file__).resolve().parents[1] / ".chalice" / "config.json"


def use_stage(stage: str, region: str) -> None:
    """The stage's settings, before chalicelib.core.models is imported (table names come from them)."""
    config = json.loads(CONFIG_FILE.read_text())
    if stage not in config.get("stages", {}):
        raise SystemExit(f"admin: stage '{stage}' is not in .chalice/config.json")
    os.environ.update(config.get("environment_variables", {}))
    os.environ.update(config["stages"][stage].get("environment_variables", {}))
    if region:
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = region


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password for the admin: ")
    if getpass.getpass("The same password again: ") != first:
        raise SystemExit("admin: the two passwords differ; nothing was created")
    return first


def create_org(name: str, admin_email: str, admin_name: str, password: str) -> dict:
    """The organisation, its admin and its account link; nothing is written if the input is invalid."""
    from chalicelib.core import urls
    from chalicelib.people import accounts, organisations, passwords

    org_name = accounts.clean_name(name, "name")
    email = accounts.normalise_email(admin_email, "admin-email")
    person = accounts.clean_name(admin_name or "", "admin-name", required=False)
    passwords.check_new_password(password, "password")
    org, join_token = organisations.create_organisation(org_name)
    admin = accounts.new_account(org.org_id, email, person, "admin", status="activated",
                                 password_hash=passwords.hash_password(password))
    accounts.create_account(admin)
    return {"org_id": org.org_id, "admin_id": admin.account_id, "sign_in": urls.absolute("/signin"),
            "join_link": urls.absolute(f"/join/{join_token}")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", help="take settings from .chalice/config.json for this stage")
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", ""))
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-org", help="a new organisation and its first admin")
    create.add_argument("--name", required=True)
    create.add_argument("--admin-email", required=True)
    create.add_argument("--admin-name", default="")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    if args.stage:
        use_stage(args.stage, args.region)
    from chalicelib.core.errors import CaseloadError

    try:
        created = create_org(args.name, args.admin_email, args.admin_name, read_password(args.password_stdin))
    except CaseloadError as problem:
        print(f"admin: {problem.field or 'input'}: {problem.message}", file=sys.stderr)
        return 2
    print(f"Organisation {args.name!r} created ({created['org_id']}).")
    print(f"Admin {args.admin_email} can sign in at {created['sign_in']}")
    print(f"Organisation account link (share it with clients): {created['join_link']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
