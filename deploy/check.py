"""`python -m deploy.check --stage prod --region eu-west-1`: stop early, naming the bad setting."""
import argparse
import sys

from deploy.settings import SettingError, load


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", default="")
    parser.add_argument("--region", default="")
    args = parser.parse_args(argv)
    try:
        settings = load(args.stage, args.region)
    except SettingError as problem:
        print(f"deploy: {problem}", file=sys.stderr)
        return 2
    print(f"deploy: stage {settings.stage} in {settings.region}, mail from {settings.mail_address}: settings ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
