"""Deploying Caseload to AWS: stage settings, the merged CloudFormation template, the package."""
