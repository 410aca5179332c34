"""The function's IAM role, with the least it needs: writing its own log group, invoking
itself (executors start executors), and, only in a VPC, AWS's managed policy for the network
interfaces Lambda attaches there."""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger(__name__)

INLINE_POLICY = "wukong-executor"
VPC_ACCESS_POLICY = "iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
"""Completed to an ARN with the partition: `arn:<partition>:` + this."""

TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}


def execution_policy(function_arn: str) -> dict[str, Any]:
    """The inline policy of the function whose ARN is `function_arn`
    (`arn:<partition>:lambda:<region>:<account>:function:<name>`)."""
    _, partition, _, region, account, _, name = function_arn.split(":")
    log_group = f"arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/{name}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "logs:CreateLogGroup",
             "Resource": [log_group, f"{log_group}:*"]},
            {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": f"{log_group}:log-stream:*"},
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function_arn},
        ],
    }


def ensure_role(iam: Any, name: str, function_arn: str, vpc: bool) -> tuple[str, bool]:
    """Create the role or bring it up to date (trust, inline policy, VPC policy attached
    exactly when `vpc`); its ARN, and whether it was created now."""
    trust = json.dumps(TRUST_POLICY)
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust)
        created = False
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust,
                              Description="Wukong executor function")["Role"]["Arn"]
        created = True
        logger.info("created IAM role %s", arn)
    iam.put_role_policy(RoleName=name, PolicyName=INLINE_POLICY,
                        PolicyDocument=json.dumps(execution_policy(function_arn)))
    vpc_policy = f"arn:{function_arn.split(':')[1]}:{VPC_ACCESS_POLICY}"
    attached = {p["PolicyArn"] for p in
                iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]}
    if vpc and vpc_policy not in attached:
        iam.attach_role_policy(RoleName=name, PolicyArn=vpc_policy)
    elif not vpc and vpc_policy in attached:
        iam.detach_role_policy(RoleName=name, PolicyArn=vpc_policy)
    return arn, created


def delete_role(iam: Any, name: str) -> bool:
    """Delete the role with its policies; False if there was none."""
    try:
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    except iam.exceptions.NoSuchEntityException:
        return False
    for policy in attached:
        iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    iam.delete_role(RoleName=name)
    logger.info("deleted IAM role %s", name)
    return True
