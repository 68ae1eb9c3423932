import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Alert, StoredAlert, VerificationState } from '../alerts/alert.ts';
import type { BuildFacts } from '../alerts/rules.ts';
import { alertIdOf, keys, NO_PERSONAL_DATA } from './keys.ts';
import { MARKER_TTL_DAYS, NOTIFICATION_TTL_DAYS } from './tableDesign.ts';
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

export interface FlowContribution extends LineBuild {
  readonly flowId: string;
  readonly deviceId: string;
  readonly sessionId: string;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly bytesToServer: number;
  readonly bytesToClient: number;
  /** Services the session had consent denied for. */
  readonly deniedServices: readonly string[];
  /** The probe run that sent the flow (its session-end record waits for the run's flows). */
  readonly run?: string;
  readonly observations: ObservationUpdate[];
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
    const expiresAt = markerExpiry(now);
    // The model and build the flow belongs to, as the build, device-run and observation items hold it.
    const build = {
      vendor: c.vendor,
      model: c.model,
      lineName: c.lineName,
      build: c.build,
      builtAt: c.builtAt,
    };
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
            ...(c.run ? { runs: new Set([c.run]) } : {}),
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
              ...build,
              lastSeen: c.endedAt,
            },
            setOnce: { firstSeen: c.startedAt },
            add: {
              flows: 1,
              devices: new Set([c.deviceId]),
              sessions: new Set([c.sessionId]),
              deniedServices: new Set(c.deniedServices),
            },
          }),
        },
      },
    ];
    const personal = c.observations.filter((o) => o.dataType !== NO_PERSONAL_DATA);
    items.push({
      Update: {
        TableName: this.tableName,
        Key: keys.deviceRun(c.deviceId, c, c.sessionId),
        ...buildUpdate({
          set: {
            type: 'device-run',
            deviceId: c.deviceId,
            sessionId: c.sessionId,
            line: c.line,
            ...build,
            lastSeen: c.endedAt,
          },
          setOnce: { firstSeen: c.startedAt },
          add: {
            flows: 1,
            dataTypes: new Set(personal.map((o) => o.dataType)),
            plaintextDataTypes: new Set(
              personal.filter((o) => o.transport === 'plaintext').map((o) => o.dataType),
            ),
          },
        }),
      },
    });
    if (c.run) {
      items.push({
        Update: {
          TableName: this.tableName,
          Key: keys.sessionRun(c.deviceId, c.sessionId, c.run),
          ...buildUpdate({ set: { type: 'session-run', lastSeen: c.endedAt }, add: { flows: 1 } }),
        },
      });
    }
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
              // Who and which build, for the sent-by indexes (and readers of a single item).
              line: c.line,
              ...build,
              ...(o.dataType === NO_PERSONAL_DATA ? {} : keys.sent(c.line, c, o)),
            },
            setOnce: { firstSeen: c.startedAt, sample: o.masked },
            add: {
              flows: 1,
              bytesToServer: c.bytesToServer,
              bytesToClient: c.bytesToClient,
              where: new Set(o.where),
              flowsWithoutConsent: o.withoutConsent ? 1 : undefined,
              forms: new Set(o.forms ?? []),
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
        if (c.run) await this.countForRun(c);
        return false;
      }
      throw error;
    }
  }

  /**
   * A flow counted before (an earlier probe run of the same capture, or a redelivery) still belongs
   * to this run: the run's counter goes up once per flow, recorded on the flow marker.
   */
  private async countForRun(c: FlowContribution): Promise<void> {
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: keys.flowMarker(c.flowId),
                UpdateExpression: 'ADD #runs :runs',
                ConditionExpression: 'attribute_exists(pk) AND NOT contains(#runs, :run)',
                ExpressionAttributeNames: { '#runs': 'runs' },
                ExpressionAttributeValues: { ':runs': new Set([c.run]), ':run': c.run },
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: keys.sessionRun(c.deviceId, c.sessionId, c.run!),
                ...buildUpdate({ set: { type: 'session-run', lastSeen: c.endedAt }, add: { flows: 1 } }),
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

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

  /**
   * A flow record went to the dead-letter queue: its probe run counts it as settled (so the
   * session-end record is not held up forever), once per flow, and remembers that one was lost.
   * Nothing is counted into the build; a redrive from the dead-letter queue counts it normally.
   */
  async recordDeadLetteredFlow(
    flow: { flowId: string; deviceId: string; sessionId: string; run?: string | undefined },
    reason: string,
    now: Date,
  ): Promise<void> {
    if (!flow.run) return;
    const expiresAt = markerExpiry(now);
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: {
                  ...keys.deadLetteredFlow(flow.flowId),
                  type: 'dead-lettered-flow',
                  run: flow.run,
                  reason: reason.slice(0, 1000),
                  recordedAt: now.toISOString(),
                  expiresAt,
                },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: keys.sessionRun(flow.deviceId, flow.sessionId, flow.run),
                ...buildUpdate({ set: { type: 'session-run' }, add: { flows: 1, deadLettered: 1 } }),
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
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
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
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
          ],
        }),
      );
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
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
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
          ],
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private notificationPut(alert: StoredAlert, event: NotificationEvent, build: string, now: Date) {
    const notificationId = `${alert.alertId}#${event}#${encodeURIComponent(build)}`;
    const { seenInBuilds: _seen, ...snapshot } = alert;
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
    deniedServices: [...((item.deniedServices as Set<string> | undefined) ?? [])].sort(),
  };
}

/** When a flow marker expires (TTL, epoch seconds): MARKER_TTL_DAYS after it was written. */
function markerExpiry(now: Date): number {
  return Math.floor(now.getTime() / 1000) + MARKER_TTL_DAYS * 86400;
}

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof TransactionCanceledException &&
      (error.CancellationReasons ?? []).some((reason) => reason?.Code === 'ConditionalCheckFailed'))
  );
}
