import { Duration } from 'aws-cdk-lib';
import {
  AccountRootPrincipal,
  ArnPrincipal,
  type IPrincipal,
  ManagedPolicy,
  Role,
} from 'aws-cdk-lib/aws-iam';
import type { IStream } from 'aws-cdk-lib/aws-kinesis';
import { Construct } from 'constructs';

export interface ProbeIdentityProps {
  readonly stream: IStream;
  /**
   * The one IAM role or user (ARN) allowed to assume the probe role.
   * @default any principal of this account whose own IAM policy allows sts:AssumeRole on it
   */
  readonly trustedPrincipalArn?: string;
}

/**
 * What a lab host's probe may do: put records on the flow stream, nothing else (the stream's
 * `grantWrite`: PutRecord(s), ListShards, and GenerateDataKey on the stream's key). As a managed policy
 * (attach it to an IAM Roles Anywhere role, an instance role or a user) and as a role to assume
 * (`role_arn` in an AWS CLI profile; README, "The probe's identity").
 */
export class ProbeIdentity extends Construct {
  readonly policy: ManagedPolicy;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: ProbeIdentityProps) {
    super(scope, id);
    this.policy = new ManagedPolicy(this, 'PutPolicy', {
      description: 'leakwatch probe: put flow records on the flow stream only',
    });
    props.stream.grantWrite(this.policy);
    const principal: IPrincipal = props.trustedPrincipalArn
      ? new ArnPrincipal(props.trustedPrincipalArn)
      : new AccountRootPrincipal();
    this.role = new Role(this, 'Role', {
      assumedBy: principal,
      description: 'leakwatch probe on a lab host: put flow records on the flow stream only',
      managedPolicies: [this.policy],
      maxSessionDuration: Duration.hours(12),
    });
  }
}
