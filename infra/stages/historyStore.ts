import { type CfnElement, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  ProjectionType,
  StreamViewType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct, type IConstruct } from 'constructs';
import { TABLE_DESIGN } from '../../core/store/tableDesign.ts';

/**
 * The single table of aggregated observations, builds, flow markers, alerts and the device registry
 * (core/store/tableDesign.ts), and the digest key that registry digests and finding digests use.
 */
export class HistoryStore extends Construct {
  readonly table: Table;
  /** 64 hex characters: the per-deployment HMAC key (registered values are stored as its digests). */
  readonly digestKey: Secret;

  constructor(scope: Construct, id: string, props: { readonly key: IKey }) {
    super(scope, id);
    // A single-region table (AWS::DynamoDB::Table): TableV2's customer-managed key needs a stack
    // bound to one region, and leakwatch synthesizes region-agnostic.
    this.table = new Table(this, 'Table', {
      partitionKey: { name: TABLE_DESIGN.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_DESIGN.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.key,
      timeToLiveAttribute: TABLE_DESIGN.timeToLiveAttribute,
      // New images feed the notify function (the outbox's notification items).
      stream: StreamViewType.NEW_IMAGE,
      deletionProtection: true,
      // History is the lab's record: deleting the stack must not delete it.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // "Which builds ever sent data type X to organisation/country Y" (sparse: personal data only),
    // and the alerts of every line by state.
    for (const index of Object.values(TABLE_DESIGN.indexes)) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
        sortKey: { name: index.sortKey, type: AttributeType.STRING },
        ...(index.projection === 'sent'
          ? { projectionType: ProjectionType.INCLUDE, nonKeyAttributes: [...TABLE_DESIGN.sentProjection] }
          : { projectionType: ProjectionType.ALL }),
      });
    }
    this.digestKey = new Secret(this, 'DigestKey', {
      description:
        'leakwatch digest key: HMAC key of registered identifiers and finding digests (64 hex characters)',
      encryptionKey: props.key,
      generateSecretString: {
        passwordLength: 64,
        excludePunctuation: true,
        excludeUppercase: true,
        includeSpace: false,
        // Hex only: lowercase letters beyond f are excluded.
        excludeCharacters: 'ghijklmnopqrstuvwxyz',
        requireEachIncludedType: false,
      },
      // Losing the key makes every registration unreadable: it outlives the stack.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.digestKey).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason:
        'the digest key is the HMAC key of every stored digest: rotating it would orphan the registry and the history (a new key means a new deployment and registering devices again)',
    });
  }

  /**
   * A function's table grant covers the table's indexes (`<table>/index/*`): the three sparse
   * indexes, each of which the history queries read. This records that for cdk-nag.
   */
  acknowledgeIndexAccess(grantee: IConstruct): void {
    const table = Stack.of(this).getLogicalId(this.table.node.defaultChild as CfnElement);
    Validations.of(grantee).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${table}.Arn>/index/*]`,
      reason:
        "the table's indexes (sentByOrganisation, sentByCountry, alertsByState), all queried by this function",
    });
  }
}
