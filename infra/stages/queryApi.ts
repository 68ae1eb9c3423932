import { Duration } from 'aws-cdk-lib';
import { type CfnStage, HttpApi, HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { HistoryStore } from './historyStore.ts';
import { leakwatchFunction } from './leakwatchFunction.ts';

export interface QueryApiProps {
  readonly history: HistoryStore;
  /** How long the function's logs are kept. @default one month */
  readonly logRetention?: RetentionDays | undefined;
}

/** Every route of the query API (docs/openapi.yaml describes them; a test keeps the two in step). */
export const API_ROUTES: readonly { method: HttpMethod; path: string }[] = [
  { method: HttpMethod.GET, path: '/lines' },
  { method: HttpMethod.GET, path: '/builds' },
  { method: HttpMethod.GET, path: '/build' },
  { method: HttpMethod.GET, path: '/destinations' },
  { method: HttpMethod.GET, path: '/diff' },
  { method: HttpMethod.GET, path: '/device' },
  { method: HttpMethod.GET, path: '/sent' },
  { method: HttpMethod.GET, path: '/alerts' },
  { method: HttpMethod.POST, path: '/alerts/{alertId}/verification' },
];

/**
 * The fleet-history query API: an HTTP API whose every route requires IAM authorisation (SigV4;
 * grant `execute-api:Invoke` on it to the lab's readers), backed by one function that reads the
 * table and may only set an alert's verdict besides.
 */
export class QueryApi extends Construct {
  readonly api: HttpApi;
  readonly function: NodejsFunction;

  constructor(scope: Construct, id: string, props: QueryApiProps) {
    super(scope, id);
    this.function = leakwatchFunction(this, 'QueryFunction', {
      handler: 'api',
      memorySize: 512,
      timeout: Duration.seconds(10),
      description: 'leakwatch: fleet-history queries (builds, diff, device timeline, sent-by, alerts)',
      logGroupId: 'QueryLogs',
      logRetention: props.logRetention,
      environment: { TABLE_NAME: props.history.table.tableName },
    });
    props.history.table.grantReadData(this.function);
    // Setting a verdict updates the alert item; nothing else is written.
    props.history.table.grant(this.function, 'dynamodb:UpdateItem');
    // The table's generic grant adds no key actions; an update writes with the table's key
    // (grantReadData already gave Decrypt and DescribeKey).
    props.history.table.encryptionKey?.grant(this.function, 'kms:Encrypt', 'kms:GenerateDataKey');
    props.history.acknowledgeIndexAccess(this.function.role!);
    this.api = new HttpApi(this, 'Api', {
      description: 'leakwatch fleet history (IAM authorisation)',
      defaultAuthorizer: new HttpIamAuthorizer(),
      createDefaultStage: true,
    });
    // Access log: who (IAM principal) asked what, and the answer's status.
    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: RetentionDays.ONE_YEAR });
    const stage = this.api.defaultStage!.node.defaultChild as CfnStage;
    stage.accessLogSettings = {
      destinationArn: accessLogs.logGroupArn,
      format: JSON.stringify({
        requestId: '$context.requestId',
        requestTime: '$context.requestTime',
        caller: '$context.identity.userArn',
        sourceIp: '$context.identity.sourceIp',
        routeKey: '$context.routeKey',
        path: '$context.path',
        status: '$context.status',
        responseLength: '$context.responseLength',
        integrationError: '$context.integrationErrorMessage',
      }),
    };
    const integration = new HttpLambdaIntegration('Queries', this.function);
    for (const route of API_ROUTES)
      this.api.addRoutes({ path: route.path, methods: [route.method], integration });
  }
}
