import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { StoredAlert } from '../alerts/alert.ts';
import { keys } from './keys.ts';
import { TableAccess } from './tableAccess.ts';
import { NOTIFICATION_TTL_DAYS } from './tableDesign.ts';
import { buildUpdate } from './updateExpression.ts';

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
 * The outbox: one notification item per alert, event and build, written in the same transaction as
 * the alert's change (AlertStore), delivered channel by channel by the notify function.
 */
export class OutboxStore extends TableAccess {
  /** The Put of a notification (in the transaction that changes its alert). */
  notificationPut(alert: StoredAlert, event: NotificationEvent, build: string, now: Date) {
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
}
