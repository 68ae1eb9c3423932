import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Alert } from '../alerts/alert.ts';
import { keys } from './keys.ts';
import { MARKER_TTL_DAYS } from './tableDesign.ts';
import { buildUpdate } from './updateExpression.ts';

/** What identifies and describes an observation: build × destination × data type × transport. */
export interface ObservationFields {
  readonly registrableDomain: string;
  readonly host: string;
  readonly transport: string;
  /** A personal-data type, or `-` for the destination itself (every flow adds one). */
  readonly dataType: string;
  readonly organisation: string;
  readonly category: string;
  readonly service?: string;
  /** Registration country and network of the server's address (offline databases). */
  readonly country?: string;
  readonly asn?: number;
  readonly asOrganisation?: string;
  /** `TLS 1.3`, `QUIC v1`, `plaintext HTTP`. */
  readonly transportDetail?: string;
}

/** One flow's contribution to an observation. */
export interface ObservationUpdate extends ObservationFields {
  readonly where: string[];
  readonly masked?: string;
}

export interface FlowContribution {
  readonly flowId: string;
  readonly line: string;
  readonly vendor: string;
  readonly model: string;
  readonly lineName: string;
  readonly build: string;
  readonly builtAt: string;
  readonly deviceId: string;
  readonly sessionId: string;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly bytesToServer: number;
  readonly bytesToClient: number;
  readonly observations: ObservationUpdate[];
}

export interface BuildSummary {
  readonly build: string;
  readonly builtAt: string;
  readonly flows: number;
  readonly devices: string[];
  readonly sessions: string[];
}

/** An observation as stored: the fields plus what all its flows added up to. */
export interface ObservationItem extends ObservationFields {
  readonly flows: number;
  readonly bytesToServer: number;
  readonly bytesToClient: number;
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly where?: Set<string>;
  readonly sample?: string;
}

export interface StoredAlert extends Alert {
  readonly state: 'open';
  readonly notifiedAt?: string;
}

/** DynamoDB's TransactWriteItems limit (100 actions per transaction). */
const MAX_TRANSACTION_ITEMS = 100;

/**
 * leakwatch's reads and writes on the single table. Counting is exactly-once per flow: the flow
 * marker and every counter update commit in one transaction that fails when the marker exists.
 */
export class LeakwatchStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** Adds a flow's counts; returns false (and changes nothing) when this flow was counted before. */
  async recordFlow(contribution: FlowContribution, now: Date): Promise<boolean> {
    const c = contribution;
    const expiresAt = Math.floor(now.getTime() / 1000) + MARKER_TTL_DAYS * 86400;
    const items: NonNullable<TransactWriteCommandInput['TransactItems']> = [
      {
        Put: {
          TableName: this.tableName,
          Item: {
            ...keys.flowMarker(c.flowId),
            type: 'flow',
            build: c.build,
            line: c.line,
            recordedAt: now.toISOString(),
            expiresAt,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Update: {
          TableName: this.tableName,
          Key: keys.build(c.line, c),
          ...buildUpdate({
            set: {
              type: 'build',
              vendor: c.vendor,
              model: c.model,
              lineName: c.lineName,
              build: c.build,
              builtAt: c.builtAt,
              lastSeen: c.endedAt,
            },
            setOnce: { firstSeen: c.startedAt },
            add: { flows: 1, devices: new Set([c.deviceId]), sessions: new Set([c.sessionId]) },
          }),
        },
      },
    ];
    for (const o of c.observations.slice(0, MAX_TRANSACTION_ITEMS - items.length)) {
      items.push({
        Update: {
          TableName: this.tableName,
          Key: keys.observation(c.line, c.build, o),
          ...buildUpdate({
            set: {
              type: 'observation',
              registrableDomain: o.registrableDomain,
              host: o.host,
              transport: o.transport,
              dataType: o.dataType,
              organisation: o.organisation,
              category: o.category,
              service: o.service,
              country: o.country,
              asn: o.asn,
              asOrganisation: o.asOrganisation,
              transportDetail: o.transportDetail,
              lastSeen: c.endedAt,
            },
            setOnce: { firstSeen: c.startedAt, sample: o.masked },
            add: {
              flows: 1,
              bytesToServer: c.bytesToServer,
              bytesToClient: c.bytesToClient,
              where: new Set(o.where),
            },
          }),
        },
      });
    }
    try {
      await this.client.send(new TransactWriteCommand({ TransactItems: items }));
      return true;
    } catch (error) {
      if (
        error instanceof TransactionCanceledException &&
        error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed'
      ) {
        return false;
      }
      throw error;
    }
  }

  /** The build of the same line that comes before `builtAt`/`build`, or null for the first build. */
  async previousBuild(
    line: string,
    firmware: { build: string; builtAt: string },
  ): Promise<BuildSummary | null> {
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND sk < :sk',
        ExpressionAttributeValues: { ':pk': keys.buildsOfLine(line), ':sk': keys.buildSortKey(firmware) },
        ScanIndexForward: false,
        Limit: 1,
      }),
    );
    const item = result.Items?.[0];
    return item ? toBuildSummary(item) : null;
  }

  /** Whether a build sent `dataType` in plaintext to any host of `registrableDomain`. */
  async buildSentPlaintext(
    line: string,
    build: string,
    registrableDomain: string,
    dataType: string,
  ): Promise<boolean> {
    const prefix = `OBS#${encodeURIComponent(registrableDomain)}#`;
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          FilterExpression: '#transport = :plaintext AND #dataType = :dataType',
          ExpressionAttributeNames: { '#transport': 'transport', '#dataType': 'dataType' },
          ExpressionAttributeValues: {
            ':pk': keys.observations(line, build),
            ':prefix': prefix,
            ':plaintext': 'plaintext',
            ':dataType': dataType,
          },
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      if ((page.Items?.length ?? 0) > 0) return true;
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return false;
  }

  /**
   * Creates the alert unless its key exists. Returns the stored alert and whether this call created it.
   */
  async putAlertOnce(line: string, alert: Alert): Promise<{ created: boolean; stored: StoredAlert }> {
    const key = keys.alert(line, alert);
    const item: StoredAlert & Record<string, unknown> = {
      ...key,
      type: 'alert',
      lineKey: line,
      ...alert,
      state: 'open',
    };
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return { created: true, stored: item };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const existing = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
      );
      return { created: false, stored: existing.Item as StoredAlert };
    }
  }

  async markAlertNotified(line: string, alert: Alert, at: Date): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.alert(line, alert),
        ...buildUpdate({ setOnce: { notifiedAt: at.toISOString() } }),
      }),
    );
  }

  async alertsOfLine(line: string): Promise<StoredAlert[]> {
    return (await this.queryAll(keys.alerts(line))) as unknown as StoredAlert[];
  }

  async buildsOfLine(line: string): Promise<BuildSummary[]> {
    return (await this.queryAll(keys.buildsOfLine(line))).map(toBuildSummary);
  }

  async observationsOfBuild(line: string, build: string): Promise<ObservationItem[]> {
    return (await this.queryAll(keys.observations(line, build))) as unknown as ObservationItem[];
  }

  private async queryAll(pk: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items;
  }
}

function toBuildSummary(item: Record<string, unknown>): BuildSummary {
  return {
    build: String(item.build),
    builtAt: String(item.builtAt),
    flows: Number(item.flows ?? 0),
    devices: [...((item.devices as Set<string> | undefined) ?? [])].sort(),
    sessions: [...((item.sessions as Set<string> | undefined) ?? [])].sort(),
  };
}
