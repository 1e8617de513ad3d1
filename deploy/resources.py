"""The stack's resources besides tables and functions: the files bucket and
its upload queue, the mail configuration set and its notifications, alarms.

Each builder returns {logical id: resource}; `deploy.template` merges them.
"""
from deploy import names

FOURTEEN_DAYS = 14 * 24 * 3600
# SQS wants the visibility timeout to be at least the consumer's timeout; 6x leaves room for retries.
VISIBILITY_TIMEOUT = 6 * 60
MAX_RECEIVE_COUNT = 5


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
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            # Browsers upload CSV files straight to S3 with a presigned POST, and download exports.
            "CorsConfiguration": {"CorsRules": [{"AllowedMethods": ["POST", "GET"], "AllowedOrigins": [origin],
                                                 "AllowedHeaders": ["*"], "MaxAge": 3000}]},
            "LifecycleConfiguration": {"Rules": [
                {"Id": "expire-uploads", "Prefix": "uploads/", "Status": "Enabled", "ExpirationInDays": 7,
                 "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
                {"Id": "expire-exports", "Prefix": "exports/", "Status": "Enabled", "ExpirationInDays": RETENTION_DAYS,
                 "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}},
                {"Id": "expire-reconcile", "Prefix": "reconcile/", "Status": "Enabled", "ExpirationInDays": 1},
            ]},
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
            "QueueName": names.queue_name(settings, logical_id), "SqsManagedSseEnabled": True, **properties}}

    return {
        names.UPLOAD_QUEUE: queue(names.UPLOAD_QUEUE, VisibilityTimeout=VISIBILITY_TIMEOUT, RedrivePolicy={
            "deadLetterTargetArn": {"Fn::GetAtt": [names.UPLOAD_DLQ, "Arn"]}, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        names.UPLOAD_DLQ: queue(names.UPLOAD_DLQ, MessageRetentionPeriod=FOURTEEN_DAYS),
        # One message per job step (chalicelib.jobs); the sweeper re-queues a lost one, the DLQ keeps poison.
        names.JOB_QUEUE: queue(names.JOB_QUEUE, VisibilityTimeout=VISIBILITY_TIMEOUT, RedrivePolicy={
            "deadLetterTargetArn": {"Fn::GetAtt": [names.JOB_DLQ, "Arn"]}, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        names.JOB_DLQ: queue(names.JOB_DLQ, MessageRetentionPeriod=FOURTEEN_DAYS),
        # Invitation e-mails, 50 recipients a message, sent at SES's rate (chalicelib.invitations.mailer).
        names.MAIL_QUEUE: queue(names.MAIL_QUEUE, VisibilityTimeout=VISIBILITY_TIMEOUT, RedrivePolicy={
            "deadLetterTargetArn": {"Fn::GetAtt": [names.MAIL_DLQ, "Arn"]}, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        names.MAIL_DLQ: queue(names.MAIL_DLQ, MessageRetentionPeriod=FOURTEEN_DAYS),
        names.STREAM_FAILURE_QUEUE: queue(names.STREAM_FAILURE_QUEUE, MessageRetentionPeriod=FOURTEEN_DAYS),
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
        names.MAIL_EVENTS_TOPIC: {"Type": "AWS::SNS::Topic",
                                  "Properties": {"TopicName": names.topic_name(settings, names.MAIL_EVENTS_TOPIC)}},
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
            "TopicName": names.topic_name(settings, names.ALARM_TOPIC)}},
        "AlarmEmailSubscription": {"Type": "AWS::SNS::Subscription", "Condition": "HasAlarmEmail", "Properties": {
            "TopicArn": {"Ref": names.ALARM_TOPIC}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}},
        "UploadDeadLetterAlarm": alarm(queue_depth(names.UPLOAD_DLQ),
                                       "Uploads that failed 5 times wait in the dead-letter queue."),
        "JobDeadLetterAlarm": alarm(queue_depth(names.JOB_DLQ),
                                    "Job step messages failed 5 times (the sweeper still retries the jobs)."),
        "MailDeadLetterAlarm": alarm(queue_depth(names.MAIL_DLQ),
                                     "Invitation e-mails failed 5 times: those people show Not sent (Resend)."),
        "StreamFailureAlarm": alarm(queue_depth(names.STREAM_FAILURE_QUEUE),
                                    "Stream batches that failed every retry: run the metrics reconciliation."),
    }
