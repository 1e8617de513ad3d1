"""The stack's resources besides tables and functions: the files bucket and
its upload queue, the mail configuration set and its notifications, alarms,
the stack's KMS key, the log bucket, the static site (S3 + CloudFront) and the
API's access logs.

Each builder returns {logical id: resource}; `deploy.template` merges them.
Why each security setting is there, and what it costs: deploy/posture.py.
"""
from deploy import names

FOURTEEN_DAYS = 14 * 24 * 3600
# SQS wants the visibility timeout to be at least the consumer's timeout; 6x leaves room for retries.
VISIBILITY_TIMEOUT = 6 * 60
MAX_RECEIVE_COUNT = 5
# Older versions of an object (overwritten or deleted) are kept this long: enough to undo a
# mistake noticed the same day, short enough that deleted personal data (uploads) does not linger.
NONCURRENT_DAYS = 1
LOG_DAYS = 90                      # S3 and CloudFront access logs
KEY_REUSE_SECONDS = 3600           # SQS reuses a data key for an hour: about 24 KMS calls a day per queue user
# CloudFront's managed "CachingOptimized" policy: no cookies, headers or query strings in the key.
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
IMMUTABLE = "public, max-age=31536000, immutable"


def key_arn() -> dict:
    return {"Fn::GetAtt": [names.STACK_KEY, "Arn"]}


def _versioned(lifecycle_rules: list) -> dict:
    """Versioning, with a rule that removes older versions and leftover delete markers."""
    return {"VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {"Rules": lifecycle_rules + [
                {"Id": "expire-old-versions", "Status": "Enabled",
                 "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
                 "ExpiredObjectDeleteMarker": True}]}}


def _private(ownership: str = "BucketOwnerEnforced") -> dict:
    return {"PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": ownership}]},
            # SSE-S3: CloudFront's log delivery and its origin access (OAC) need no key policy for it.
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}}


def _access_logs(prefix: str) -> dict:
    return {"LoggingConfiguration": {"DestinationBucketName": {"Ref": names.LOG_BUCKET}, "LogFilePrefix": prefix}}


def _only_tls(bucket_id: str) -> dict:
    return {"Sid": "OnlyTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [{"Fn::GetAtt": [bucket_id, "Arn"]}, {"Fn::Sub": "${%s.Arn}/*" % bucket_id}],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def _bucket_arn(settings) -> dict:
    # Built from the name, not GetAtt: the queue policy must exist before the
    # bucket (S3 tests the notification target), so it cannot refer to the bucket.
    name = names.bucket_name_sub(settings)["Fn::Sub"]
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{name}"}


def bucket(settings) -> dict:
    # Imported here: chalicelib's models must be named with the stage's prefix first (deploy/package.py).
    from chalicelib.exports.exports import RETENTION_DAYS

    # The origin (https://host) of the PublicUrl parameter: the pages that upload.
    origin = {"Fn::Join": ["", ["https://", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "PublicUrl"}]}]}]]}
    policy = "Retain" if settings.production else "Delete"
    return {names.BUCKET: {
        "Type": "AWS::S3::Bucket",
        "DependsOn": ["UploadQueuePolicy"],
        "DeletionPolicy": policy,
        "UpdateReplacePolicy": policy,
        "Properties": {
            "BucketName": names.bucket_name_sub(settings),
            **_private(),
            # Browsers upload CSV files straight to S3 with a presigned POST, and download exports.
            "CorsConfiguration": {"CorsRules": [{"AllowedMethods": ["POST", "GET"], "AllowedOrigins": [origin],
                                                 "AllowedHeaders": ["*"], "MaxAge": 3000}]},
            **_versioned([
                {"Id": "expire-uploads", "Prefix": "uploads/", "Status": "Enabled", "ExpirationInDays": 7,
                 "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
                {"Id": "expire-exports", "Prefix": "exports/", "Status": "Enabled", "ExpirationInDays": RETENTION_DAYS,
                 "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}},
                {"Id": "expire-reconcile", "Prefix": "reconcile/", "Status": "Enabled", "ExpirationInDays": 1},
            ]),
            **_access_logs("files/"),
            "NotificationConfiguration": {"QueueConfigurations": [{
                "Event": "s3:ObjectCreated:*",
                "Queue": {"Fn::GetAtt": [names.UPLOAD_QUEUE, "Arn"]},
                "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "uploads/"}]}},
            }]},
        },
    }}


def queues(settings) -> dict:
    def queue(logical_id: str, **properties) -> dict:
        return {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": names.queue_name(settings, logical_id), "KmsMasterKeyId": key_arn(),
            "KmsDataKeyReusePeriodSeconds": KEY_REUSE_SECONDS, **properties}}

    return {
        names.UPLOAD_QUEUE: queue(names.UPLOAD_QUEUE, VisibilityTimeout=VISIBILITY_TIMEOUT, RedrivePolicy={
            "deadLetterTargetArn": {"Fn::GetAtt": [names.UPLOAD_DLQ, "Arn"]}, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        names.UPLOAD_DLQ: queue(names.UPLOAD_DLQ, MessageRetentionPeriod=FOURTEEN_DAYS),
        # One message per job step (chalicelib.jobs); the sweeper re-queues a lost one, the DLQ keeps poison.
        names.JOB_QUEUE: queue(names.JOB_QUEUE, VisibilityTimeout=VISIBILITY_TIMEOUT, RedrivePolicy={
            "deadLetterTargetArn": {"Fn::GetAtt": [names.JOB_DLQ, "Arn"]}, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        names.JOB_DLQ: queue(names.JOB_DLQ, MessageRetentionPeriod=FOURTEEN_DAYS),
        # Invitation emails, 50 recipients a message, sent at SES's rate (chalicelib.invitations.mailer).
        names.MAIL_QUEUE: queue(names.MAIL_QUEUE, VisibilityTimeout=VISIBILITY_TIMEOUT, RedrivePolicy={
            "deadLetterTargetArn": {"Fn::GetAtt": [names.MAIL_DLQ, "Arn"]}, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        names.MAIL_DLQ: queue(names.MAIL_DLQ, MessageRetentionPeriod=FOURTEEN_DAYS),
        names.STREAM_FAILURE_QUEUE: queue(names.STREAM_FAILURE_QUEUE, MessageRetentionPeriod=FOURTEEN_DAYS),
        # Every function's dead-letter queue: events of asynchronous invocations (schedules, SNS) that
        # failed Lambda's retries.
        names.FUNCTION_DLQ: queue(names.FUNCTION_DLQ, MessageRetentionPeriod=FOURTEEN_DAYS),
        "UploadQueuePolicy": {"Type": "AWS::SQS::QueuePolicy", "Properties": {
            "Queues": [{"Ref": names.UPLOAD_QUEUE}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "BucketNotifications", "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": {"Fn::GetAtt": [names.UPLOAD_QUEUE, "Arn"]},
                "Condition": {"ArnLike": {"aws:SourceArn": _bucket_arn(settings)},
                              "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
            }]},
        }},
    }


def mail(settings) -> dict:
    """SES configuration set whose bounces and complaints are published to an SNS topic."""
    return {
        names.CONFIGURATION_SET: {"Type": "AWS::SES::ConfigurationSet",
                                  "Properties": {"Name": names.configuration_set(settings)}},
        names.MAIL_EVENTS_TOPIC: {"Type": "AWS::SNS::Topic", "Properties": {
            "TopicName": names.topic_name(settings, names.MAIL_EVENTS_TOPIC), "KmsMasterKeyId": key_arn()}},
        "MailEventsTopicPolicy": {"Type": "AWS::SNS::TopicPolicy", "Properties": {
            "Topics": [{"Ref": names.MAIL_EVENTS_TOPIC}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "SesPublishes", "Effect": "Allow", "Principal": {"Service": "ses.amazonaws.com"},
                "Action": "sns:Publish", "Resource": {"Ref": names.MAIL_EVENTS_TOPIC},
                "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
            }]},
        }},
        "MailEventDestination": {"Type": "AWS::SES::ConfigurationSetEventDestination", "Properties": {
            "ConfigurationSetName": {"Ref": names.CONFIGURATION_SET},
            "EventDestination": {"Name": "bounces-and-complaints", "Enabled": True,
                                 "MatchingEventTypes": ["bounce", "complaint", "reject"],
                                 "SnsDestination": {"TopicARN": {"Ref": names.MAIL_EVENTS_TOPIC}}},
        }},
    }


def alarm(metric: dict, description: str) -> dict:
    """Alarm as soon as the metric is above zero in a 5-minute period."""
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": description, "Period": 300, "EvaluationPeriods": 1, "Threshold": 0,
        "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": names.ALARM_TOPIC}], **metric}}


def alarms(settings) -> dict:
    def queue_depth(logical_id: str) -> dict:
        return {"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible", "Statistic": "Maximum",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [logical_id, "QueueName"]}}]}

    return {
        names.ALARM_TOPIC: {"Type": "AWS::SNS::Topic", "Properties": {
            "TopicName": names.topic_name(settings, names.ALARM_TOPIC), "KmsMasterKeyId": key_arn()}},
        "AlarmEmailSubscription": {"Type": "AWS::SNS::Subscription", "Condition": "HasAlarmEmail", "Properties": {
            "TopicArn": {"Ref": names.ALARM_TOPIC}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}},
        "UploadDeadLetterAlarm": alarm(queue_depth(names.UPLOAD_DLQ),
                                       "Uploads that failed 5 times wait in the dead-letter queue."),
        "JobDeadLetterAlarm": alarm(queue_depth(names.JOB_DLQ),
                                    "Job step messages failed 5 times (the sweeper still retries the jobs)."),
        "MailDeadLetterAlarm": alarm(queue_depth(names.MAIL_DLQ),
                                     "Invitation emails failed 5 times: those people show Not sent (Resend)."),
        "StreamFailureAlarm": alarm(queue_depth(names.STREAM_FAILURE_QUEUE),
                                    "Stream batches that failed every retry: run the metrics reconciliation."),
        "FunctionDeadLetterAlarm": alarm(queue_depth(names.FUNCTION_DLQ),
                                         "A scheduled or SNS-invoked function failed every retry: see its logs."),
    }


def stack_key(settings) -> dict:
    """The stack's one customer-managed key: tables, queues, topics, log groups and the
    functions' environment. Its users are named by IAM (each role's UseStackKey statement)
    and, here, the services that write into encrypted queues, topics and log groups."""
    account_root = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    publish = ["kms:GenerateDataKey*", "kms:Decrypt"]
    policy = "Retain" if settings.production else "Delete"
    return {
        names.STACK_KEY: {"Type": "AWS::KMS::Key", "DeletionPolicy": policy, "UpdateReplacePolicy": policy,
                          "Properties": {
            "Description": f"Caseload {settings.stage}: tables, queues, topics, logs, function settings",
            "EnableKeyRotation": True, "PendingWindowInDays": 30,
            "KeyPolicy": {"Version": "2012-10-17", "Statement": [
                {"Sid": "AccountAdministersThroughIam", "Effect": "Allow", "Principal": {"AWS": account_root},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "CloudWatchLogsEncryptsOurLogGroups", "Effect": "Allow",
                 "Principal": {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}},
                 "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                            "kms:Describe*"], "Resource": "*",
                 "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": {
                     "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"}}}},
                # S3 notifies the upload queue; CloudWatch alarms publish to the alarm topic.
                {"Sid": "ServicesWriteToEncryptedQueuesAndTopics", "Effect": "Allow",
                 "Principal": {"Service": ["s3.amazonaws.com", "cloudwatch.amazonaws.com"]},
                 "Action": publish, "Resource": "*"},
                {"Sid": "SesPublishesMailEvents", "Effect": "Allow", "Principal": {"Service": "ses.amazonaws.com"},
                 "Action": publish, "Resource": "*",
                 "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}},
            ]},
        }},
        "StackKeyAlias": {"Type": "AWS::KMS::Alias", "Properties": {
            "AliasName": names.key_alias(settings), "TargetKeyId": {"Ref": names.STACK_KEY}}},
    }


def log_bucket(settings) -> dict:
    """Access logs of the files and static buckets (S3 server access logging) and of the
    static site (CloudFront standard logging, which writes through an ACL: hence ACLs on)."""
    policy = "Retain" if settings.production else "Delete"
    return {
        names.LOG_BUCKET: {"Type": "AWS::S3::Bucket", "DeletionPolicy": policy, "UpdateReplacePolicy": policy,
                           "Properties": {
            "BucketName": names.stack_bucket_name_sub(settings, "logs"),
            **_private("BucketOwnerPreferred"),
            **_versioned([{"Id": "expire-logs", "Status": "Enabled", "ExpirationInDays": LOG_DAYS}]),
        }},
        "LogBucketPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": names.LOG_BUCKET},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                _only_tls(names.LOG_BUCKET),
                {"Sid": "S3ServerAccessLogs", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
                 "Action": "s3:PutObject", "Resource": {"Fn::Sub": "${%s.Arn}/*" % names.LOG_BUCKET},
                 "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}},
            ]},
        }},
    }


def static_site(settings) -> dict:
    """Fingerprinted CSS/JS (`make package` writes them to build/package-<stage>/static/; the
    README's deploy step copies them) in a private bucket that only this distribution reads
    (origin access control), served for a year as immutable."""
    distribution_arn = {"Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${%s}"
                        % names.STATIC_DISTRIBUTION}
    return {
        names.STATIC_BUCKET: {"Type": "AWS::S3::Bucket", "Properties": {
            "BucketName": names.stack_bucket_name_sub(settings, "static"),
            **_private(),
            **_versioned([]),
            **_access_logs("static/"),
        }},
        "StaticBucketPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": names.STATIC_BUCKET},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                _only_tls(names.STATIC_BUCKET),
                {"Sid": "OnlyOurDistributionReads", "Effect": "Allow",
                 "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
                 "Resource": {"Fn::Sub": "${%s.Arn}/*" % names.STATIC_BUCKET},
                 "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}}},
            ]},
        }},
        "StaticOriginAccessControl": {"Type": "AWS::CloudFront::OriginAccessControl", "Properties": {
            "OriginAccessControlConfig": {
                "Name": {"Fn::Sub": "${AWS::StackName}-static"}, "OriginAccessControlOriginType": "s3",
                "SigningBehavior": "always", "SigningProtocol": "sigv4"}}},
        "StaticResponseHeaders": {"Type": "AWS::CloudFront::ResponseHeadersPolicy", "Properties": {
            "ResponseHeadersPolicyConfig": {
                "Name": {"Fn::Sub": "${AWS::StackName}-static"},
                "Comment": "Fingerprinted files never change: cache them for a year.",
                "CustomHeadersConfig": {"Items": [{"Header": "Cache-Control", "Value": IMMUTABLE, "Override": True}]},
                "SecurityHeadersConfig": {
                    "ContentTypeOptions": {"Override": True},
                    "StrictTransportSecurity": {"AccessControlMaxAgeSec": 63072000, "IncludeSubdomains": True,
                                                "Override": True}},
            }}},
        names.STATIC_DISTRIBUTION: {"Type": "AWS::CloudFront::Distribution", "Properties": {
            "DistributionConfig": {
                "Comment": f"Caseload {settings.stage}: static files",
                "Enabled": True, "HttpVersion": "http2and3", "IPV6Enabled": True, "PriceClass": "PriceClass_100",
                "Origins": [{"Id": "static", "DomainName": {"Fn::GetAtt": [names.STATIC_BUCKET, "RegionalDomainName"]},
                             "S3OriginConfig": {"OriginAccessIdentity": ""},
                             "OriginAccessControlId": {"Fn::GetAtt": ["StaticOriginAccessControl", "Id"]}}],
                "DefaultCacheBehavior": {
                    "TargetOriginId": "static", "ViewerProtocolPolicy": "https-only",
                    "AllowedMethods": ["GET", "HEAD"], "CachedMethods": ["GET", "HEAD"], "Compress": True,
                    "CachePolicyId": CACHING_OPTIMIZED,
                    "ResponseHeadersPolicyId": {"Ref": "StaticResponseHeaders"}},
                "Logging": {"Bucket": {"Fn::GetAtt": [names.LOG_BUCKET, "DomainName"]}, "Prefix": "cloudfront/",
                            "IncludeCookies": False},
                "ViewerCertificate": {"CloudFrontDefaultCertificate": True},
            }}},
    }


ACCESS_LOG_FORMAT = ('{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
                     '"time":"$context.requestTime","method":"$context.httpMethod",'
                     '"path":"$context.resourcePath","status":"$context.status",'
                     '"bytes":"$context.responseLength","latencyMs":"$context.responseLatency",'
                     '"integrationMs":"$context.integrationLatency"}')


def api_logging(settings) -> dict:
    """The API stage's access log group, and the account-level role API Gateway writes
    logs with (one per account and region: kept when the stack is deleted, since other
    APIs of the account may rely on it)."""
    return {
        names.API_ACCESS_LOGS: {"Type": "AWS::Logs::LogGroup", "Properties": {
            "LogGroupName": f"/aws/apigateway/{settings.table_prefix}access",
            "RetentionInDays": settings.log_retention_days or 30, "KmsKeyId": key_arn()}},
        "ApiGatewayCloudWatchRole": {"Type": "AWS::IAM::Role", "DeletionPolicy": "Retain",
                                     "UpdateReplacePolicy": "Retain", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
                "Action": "sts:AssumeRole"}]},
            "ManagedPolicyArns": [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                                              "AmazonAPIGatewayPushToCloudWatchLogs"}]}},
        "ApiGatewayAccount": {"Type": "AWS::ApiGateway::Account", "Properties": {
            "CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}}},
    }
