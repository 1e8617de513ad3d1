"""Event handlers: what AWS delivers to the functions, routed to the domain."""
import os

from chalice import Blueprint

bp = Blueprint(__name__)

# Chalice needs the ARN as a literal when the app is imported; the deploy
# template replaces it with the table's StreamArn (Fn::GetAtt).
ACCOUNTS_STREAM_ARN = os.environ.get(
    "CASELOAD_ACCOUNTS_STREAM_ARN",
    "arn:aws:dynamodb:eu-west-1:123456789012:table/caseload-local-accounts/stream/1970-01-01T00:00:00.000",
)
