import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Alert, StoredAlert, VerificationState } from '../alerts/alert.ts';
import { SET_CAPS } from './itemLimits.ts';
import { alertIdOf, keys } from './keys.ts';
import type { NotificationEvent, OutboxStore } from './outboxStore.ts';
import { TableAccess } from './tableAccess.ts';
import { buildUpdate } from './updateExpression.ts';
import { SETS_CAPPED } from './watermark.ts';

/**
 * Alerts and their lifecycle: created, seen again, resolved, reopened, verified. Every change that
 * notifies writes the alert and its outbox item together, on a condition, through one helper
 * (writeTogether): exactly once however often its cause is replayed.
 */
export class AlertStore extends TableAccess {
  constructor(
    client: DynamoDBDocumentClient,
    tableName: string,
    private readonly outbox: OutboxStore,
  ) {
    super(client, tableName);
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
      ...this.outbox.eventWrites(stored, 'opened', alert, now),
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

  /**
   * Records that a later build still shows an alert's behaviour: in `seenInBuilds` while it has
   * room (SET_CAPS.seenInBuilds), and always as `lastSeenInBuild`.
   */
  async alertSeenIn(line: string, alert: StoredAlert, build: string): Promise<void> {
    const update = (parts: Parameters<typeof buildUpdate>[0], condition?: string) => {
      const u = buildUpdate(parts);
      return new UpdateCommand({
        TableName: this.tableName,
        Key: keys.alert(line, alert),
        ...u,
        ...(condition
          ? {
              ConditionExpression: condition,
              ExpressionAttributeNames: { ...u.ExpressionAttributeNames, '#seen': 'seenInBuilds' },
              ExpressionAttributeValues: {
                ...u.ExpressionAttributeValues,
                ':cap': SET_CAPS.seenInBuilds,
                ':build': build,
              },
            }
          : {}),
      });
    };
    try {
      await this.client.send(
        update(
          { set: { lastSeenInBuild: build }, add: { seenInBuilds: new Set([build]) } },
          'attribute_not_exists(#seen) OR size(#seen) < :cap OR contains(#seen, :build)',
        ),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      await this.client.send(
        update({ set: { lastSeenInBuild: build }, add: { [SETS_CAPPED]: new Set(['seenInBuilds']) } }),
      );
    }
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
      ...(notify ? { notification: ['resolved', build] as const } : {}),
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
      // The set stops at its cap (the item read just before tells; a reopening is rare).
      ...((alert.seenInBuilds?.size ?? 0) < SET_CAPS.seenInBuilds
        ? { add: { seenInBuilds: new Set([build.build]) } }
        : {}),
      ...(notify ? { notification: ['reopened', build] as const } : {}),
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
      notification?: readonly [NotificationEvent, { build: string; builtAt: string }];
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
        ? this.outbox.eventWrites(after, change.notification[0], change.notification[1], now)
        : []),
    ]);
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
}

function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof TransactionCanceledException &&
      (error.CancellationReasons ?? []).some((reason) => reason?.Code === 'ConditionalCheckFailed'))
  );
}
