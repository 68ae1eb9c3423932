import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Construct, type IConstruct } from 'constructs';

/**
 * The deployment's customer-managed KMS key: it encrypts the flow stream, the history table (and its
 * stream), the alert topic, the two queues, the archive bucket and delivery stream, Athena's results
 * and the digest key secret. Principals get it only through the resources' `grant*()` calls (each
 * adds the key actions that resource needs); rotation is on; the key outlives the stack, since the
 * retained table and archive cannot be read without it.
 */
export class DataKey extends Construct {
  readonly key: Key;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const stack = Stack.of(this);
    this.key = new Key(this, 'Key', {
      description: `leakwatch ${stack.stackName}: flow stream, history table, alert topic, queues, archive`,
      alias: `alias/leakwatch/${stack.stackName}`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch alarms publish to the encrypted alert topic: SNS asks KMS on CloudWatch's behalf.
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToAlertTopic',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
  }

  /**
   * The resources' `grant*()` calls give a grantee the key's data-key actions as CDK spells them
   * (`kms:GenerateDataKey*`, `kms:ReEncrypt*`), always on this key's ARN only. This records that for
   * cdk-nag, on the grantees named (never stack-wide).
   */
  acknowledgeGrants(...grantees: IConstruct[]): void {
    for (const grantee of grantees) {
      Validations.of(grantee).acknowledge(
        ...['kms:GenerateDataKey*', 'kms:ReEncrypt*'].map((action) => ({
          id: `AwsSolutions::AwsSolutions-IAM5[Action::${action}]`,
          reason: "a resource's grant*() on the deployment's key, scoped to that key's ARN",
        })),
      );
    }
  }
}
