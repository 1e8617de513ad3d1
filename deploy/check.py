"""`python -m deploy.check --stage prod --region eu-west-1 [--aws]`: stop early, naming the bad setting.

Offline it checks the stage settings (what `make package` does first). With
`--aws` (credentials needed) it also asks SES whether the sender's identity is
verified in that region, and warns while the account is in the SES sandbox.
"""
import argparse
import sys

from deploy.settings import SettingError, StageSettings, load


def check_aws(settings: StageSettings) -> list:
    """Raises SettingError when the sender cannot send; returns warnings."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    ses = boto3.client("ses", region_name=settings.region)
    identities = [settings.mail_domain, settings.mail_address]
    try:
        found = ses.get_identity_verification_attributes(Identities=identities)["VerificationAttributes"]
    except (BotoCoreError, ClientError) as exc:
        raise SettingError(f"SES in {settings.region} cannot be asked about CASELOAD_MAIL_SENDER: {exc}") from None
    if not any(found.get(i, {}).get("VerificationStatus") == "Success" for i in identities):
        raise SettingError(f"CASELOAD_MAIL_SENDER: neither {settings.mail_domain} nor {settings.mail_address} is a "
                           f"verified SES identity in {settings.region}.")
    try:
        production = boto3.client("sesv2", region_name=settings.region).get_account()["ProductionAccessEnabled"]
    except (BotoCoreError, ClientError, KeyError) as exc:
        return [f"could not tell whether SES in {settings.region} is out of the sandbox ({exc})"]
    return [] if production else [f"SES in {settings.region} is in the sandbox: it mails verified addresses only"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", default="")
    parser.add_argument("--region", default="")
    parser.add_argument("--aws", action="store_true", help="also ask SES (needs credentials)")
    args = parser.parse_args(argv)
    try:
        settings = load(args.stage, args.region)
        for warning in check_aws(settings) if args.aws else []:
            print(f"deploy: warning: {warning}", file=sys.stderr)
    except SettingError as problem:
        print(f"deploy: {problem}", file=sys.stderr)
        return 2
    print(f"deploy: stage {settings.stage} in {settings.region}, mail from {settings.mail_address}: settings ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
