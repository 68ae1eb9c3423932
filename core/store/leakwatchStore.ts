import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  paginateQuery,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Alert, StoredAlert, VerificationState } from '../alerts/alert.ts';
import type { BuildFacts } from '../alerts/rules.ts';
import { alertIdOf, keys } from './keys.ts';
import { NOTIFICATION_TTL_DAYS } from './tableDesign.ts';
import { buildUpdate } from './updateExpression.ts';
import { withoutWatermarks } from './watermark.ts';

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
  /** The session's consent for the destination's service was denied. */
  readonly withoutConsent?: boolean;
  /** How known values were written (`plain`, `md5-hex`, …). */
  readonly forms?: readonly string[];
}

/** The firmware line and build an item belongs to, as build, device-run and observation items hold it. */
export interface LineBuild {
  /** The line's key (lineKey: vendor|model|line, URI-encoded parts). */
  readonly line: string;
  readonly vendor: string;
  readonly model: string;
  readonly lineName: string;
  readonly build: string;
  readonly builtAt: string;
}

export interface BuildSummary {
  readonly build: string;
  readonly builtAt: string;
  readonly flows: number;
  readonly devices: string[];
  readonly sessions: string[];
  readonly deniedServices: string[];
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
  readonly flowsWithoutConsent?: number;
  readonly forms?: Set<string>;
}

export type NotificationEvent = 'opened' | 'resolved' | 'reopened';

/** An outbox item: one notification about one alert, delivered by the notify function. */
export interface StoredNotification {
  readonly notificationId: string;
  readonly event: NotificationEvent;
  /** The build the event happened in (raised in, resolved in, seen again in). */
  readonly build: string;
  readonly alert: StoredAlert;
  readonly createdAt: string;
  /** Per channel (`sns`, `slack`): when it was delivered; a retry skips delivered channels. */
  readonly delivered?: Record<string, string>;
  readonly deliveredAt?: string;
  readonly attempts?: number;
  readonly lastError?: string;
}

/**
 * leakwatch's reads and writes on the single table. Ingest's counting writes (aggregate items with
 * per-shard watermarks, flow-id chunks) are core/store/watermark.ts and core/ingest/flowIdChunks.ts.
 */
export class LeakwatchStore {
  constructor(
    readonly client: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  /** Up to `count` builds of the same line before `firmware`, most recent first (the baseline). */
  async previousBuilds(
    line: string,
    firmware: { build: string; builtAt: string },
    count: number,
  ): Promise<BuildSummary[]> {
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND sk < :sk',
        ExpressionAttributeValues: { ':pk': keys.buildsOfLine(line), ':sk': keys.buildSortKey(firmware) },
        ScanIndexForward: false,
        Limit: count,
      }),
    );
    return (result.Items ?? []).map(toBuildSummary);
  }

  /** What a build did (its observations and denied services), for the rules. */
  async buildFacts(line: string, build: BuildSummary): Promise<BuildFacts> {
    const observations = await this.observationsOfBuild(line, build.build);
    return {
      build: build.build,
      builtAt: build.builtAt,
      observations,
      deniedServices: new Set(build.deniedServices),
    };
  }

  async getBuild(line: string, firmware: { build: string; builtAt: string }): Promise<BuildSummary | null> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keys.build(line, firmware), ConsistentRead: true }),
    );
    return result.Item ? toBuildSummary(result.Item) : null;
  }

  /** A probe run's flows settled so far (counted or dead-lettered), and how many were dead-lettered. */
  async sessionRun(
    deviceId: string,
    sessionId: string,
    run: string,
  ): Promise<{ flows: number; deadLettered: number }> {
    const result = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.sessionRun(deviceId, sessionId, run),
        ConsistentRead: true,
      }),
    );
    return { flows: Number(result.Item?.flows ?? 0), deadLettered: Number(result.Item?.deadLettered ?? 0) };
  }

  /** A session of the line ended: the line is listed, with its builds, devices and sessions. */
  async putLine(
    line: string,
    fields: { vendor: string; model: string; lineName: string },
    session: { build: string; deviceId: string; sessionId: string },
    at: Date,
  ) {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.line(line),
        ...buildUpdate({
          set: { type: 'line', ...fields, lastSessionEnded: at.toISOString() },
          setOnce: { firstSessionEnded: at.toISOString() },
          add: {
            builds: new Set([session.build]),
            devices: new Set([session.deviceId]),
            sessions: new Set([session.sessionId]),
          },
        }),
      }),
    );
  }

  async getAlert(
    line: string,
    key: { rule: string; subject: string; dataType: string },
  ): Promise<StoredAlert | undefined> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keys.alert(line, key), ConsistentRead: true }),
    );
    return result.Item as StoredAlert | undefined;
  }

  /**
   * Creates the alert and its `opened` notification in one transaction, unless the alert exists.
   * Returns whether this call created it.
   */
  async createAlert(line: string, alert: Alert, now: Date): Promise<boolean> {
    const alertId = alertIdOf(line, alert);
    const stored: StoredAlert = {
      ...alert,
      alertId,
      lineKey: line,
      state: 'open',
      seenInBuilds: new Set([alert.build]),
      verification: 'unknown',
    };
    return this.writeTogether([
      {
        Put: {
          TableName: this.tableName,
          Item: {
            ...keys.alert(line, alert),
            type: 'alert',
            alertOrder: keys.alertOrder({ createdAt: alert.createdAt, alertId }),
            ...stored,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      {
        Put: {
          TableName: this.tableName,
          Item: {
            ...keys.alertId(alertId),
            type: 'alert-id',
            lineKey: line,
            alertSk: keys.alert(line, alert).sk,
          },
        },
      },
      this.notificationPut(stored, 'opened', alert.build, now),
    ]);
  }

  /**
   * The store's one conditional write of several items: all or none (TransactWriteItems), false
   * when a condition refused it (the change was made before, or the item moved on).
   */
  private async writeTogether(
    items: NonNullable<TransactWriteCommandInput['TransactItems']>,
  ): Promise<boolean> {
    try {
      await this.client.send(new TransactWriteCommand({ TransactItems: items }));
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Records that a later build still shows an alert's behaviour. */
  async alertSeenIn(line: string, alert: StoredAlert, build: string): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.alert(line, alert),
        ...buildUpdate({ add: { seenInBuilds: new Set([build]) } }),
      }),
    );
  }

  /**
   * Resolves an open alert in `build` (and queues the follow-up unless the verdict suppresses it).
   * Returns false when it was no longer open.
   */
  async resolveAlert(
    line: string,
    alert: StoredAlert,
    build: { build: string; builtAt: string },
    now: Date,
    notify: boolean,
  ): Promise<boolean> {
    return this.transition(line, alert, now, {
      condition: '#state = :open',
      set: {
        state: 'resolved',
        resolvedIn: build.build,
        resolvedInBuiltAt: build.builtAt,
        resolvedAt: now.toISOString(),
      },
      values: { ':open': 'open' },
      ...(notify ? { notification: ['resolved', build.build] as const } : {}),
    });
  }

  /** Opens a resolved alert again because a build after its fix shows the behaviour again. */
  async reopenAlert(
    line: string,
    alert: StoredAlert,
    build: { build: string; builtAt: string },
    now: Date,
    notify: boolean,
  ): Promise<boolean> {
    return this.transition(line, alert, now, {
      condition: '#state = :resolved AND #resolvedInBuiltAt <= :builtAt',
      set: { state: 'open', reopenedIn: build.build, reopenedAt: now.toISOString() },
      values: { ':resolved': 'resolved', ':builtAt': build.builtAt },
      names: { '#resolvedInBuiltAt': 'resolvedInBuiltAt' },
      add: { seenInBuilds: new Set([build.build]) },
      ...(notify ? { notification: ['reopened', build.build] as const } : {}),
    });
  }

  private async transition(
    line: string,
    alert: StoredAlert,
    now: Date,
    change: {
      condition: string;
      set: Record<string, unknown>;
      values: Record<string, unknown>;
      names?: Record<string, string>;
      add?: Record<string, unknown>;
      notification?: readonly [NotificationEvent, string];
    },
  ): Promise<boolean> {
    const update = buildUpdate({ set: change.set, ...(change.add ? { add: change.add } : {}) });
    const after = { ...alert, ...change.set } as StoredAlert;
    return this.writeTogether([
      {
        Update: {
          TableName: this.tableName,
          Key: keys.alert(line, alert),
          UpdateExpression: update.UpdateExpression,
          ConditionExpression: change.condition,
          ExpressionAttributeNames: {
            ...update.ExpressionAttributeNames,
            '#state': 'state',
            ...change.names,
          },
          ExpressionAttributeValues: { ...update.ExpressionAttributeValues, ...change.values },
        },
      },
      ...(change.notification
        ? [this.notificationPut(after, change.notification[0], change.notification[1], now)]
        : []),
    ]);
  }

  private notificationPut(alert: StoredAlert, event: NotificationEvent, build: string, now: Date) {
    const notificationId = `${alert.alertId}#${event}#${encodeURIComponent(build)}`;
    // The alert as its notification shows it: the same whether it was read from the table or kept
    // by the batch that wrote it (no keys, no index attributes).
    const {
      seenInBuilds: _seen,
      pk: _pk,
      sk: _sk,
      type: _type,
      alertOrder: _order,
      ...snapshot
    } = alert as StoredAlert & Record<string, unknown>;
    return {
      Put: {
        TableName: this.tableName,
        Item: {
          ...keys.notification(notificationId),
          type: 'notification',
          notificationId,
          event,
          build,
          alert: snapshot,
          delivered: {},
          createdAt: now.toISOString(),
        },
        // One notification per alert, event and build, however often the cause is replayed.
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    };
  }

  /** Notifications not yet delivered on every channel, oldest first (local mode's outbox reader). */
  async pendingNotifications(): Promise<StoredNotification[]> {
    const items = await this.queryAll(keys.outbox);
    return (items as unknown as StoredNotification[])
      .filter((n) => !n.deliveredAt)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async getNotification(notificationId: string): Promise<StoredNotification | undefined> {
    const result = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.notification(notificationId),
        ConsistentRead: true,
      }),
    );
    return result.Item as StoredNotification | undefined;
  }

  /** Marks one channel of a notification delivered (and the notification, when all channels are). */
  async markDelivered(notificationId: string, channel: string, at: Date, complete: boolean): Promise<void> {
    const expiresAt = Math.floor(at.getTime() / 1000) + NOTIFICATION_TTL_DAYS * 86400;
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.notification(notificationId),
        UpdateExpression: `SET #delivered.#channel = :at${complete ? ', #deliveredAt = :at, #expiresAt = :expiresAt' : ''}`,
        ExpressionAttributeNames: {
          '#delivered': 'delivered',
          '#channel': channel,
          ...(complete ? { '#deliveredAt': 'deliveredAt', '#expiresAt': 'expiresAt' } : {}),
        },
        ExpressionAttributeValues: {
          ':at': at.toISOString(),
          ...(complete ? { ':expiresAt': expiresAt } : {}),
        },
      }),
    );
  }

  /** Notes a failed delivery attempt on the notification (what failed, how often). */
  async noteDeliveryFailure(notificationId: string, reason: string): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.notification(notificationId),
        ...buildUpdate({ set: { lastError: reason.slice(0, 1000) }, add: { attempts: 1 } }),
      }),
    );
  }

  /** Finds an alert by its short id. */
  async alertById(alertId: string): Promise<StoredAlert | undefined> {
    const index = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keys.alertId(alertId), ConsistentRead: true }),
    );
    if (!index.Item) return undefined;
    const result = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: keys.alerts(String(index.Item.lineKey)), sk: String(index.Item.alertSk) },
        ConsistentRead: true,
      }),
    );
    return result.Item as StoredAlert | undefined;
  }

  /** Sets the lab's verdict on an alert. */
  async verifyAlert(
    alert: StoredAlert,
    verification: VerificationState,
    note: string | undefined,
    at: Date,
  ): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.alert(alert.lineKey, alert),
        ...buildUpdate({
          set: { verification, verifiedAt: at.toISOString(), verificationNote: note ?? '' },
        }),
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
    // The shards' watermarks are the writers' business, not the readers'.
    return (await this.queryAll(keys.observations(line, build))).map(
      withoutWatermarks,
    ) as unknown as ObservationItem[];
  }

  private async queryAll(pk: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
      },
    );
    for await (const page of pages) items.push(...(page.Items ?? []));
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
    deniedServices: [...((item.deniedServices as Set<string> | undefined) ?? [])].sort(),
  };
}

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof TransactionCanceledException &&
      (error.CancellationReasons ?? []).some((reason) => reason?.Code === 'ConditionalCheckFailed'))
  );
}
