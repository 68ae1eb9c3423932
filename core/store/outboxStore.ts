import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { StoredAlert } from '../alerts/alert.ts';
import { keys } from './keys.ts';
import { TableAccess } from './tableAccess.ts';
import { NOTIFICATION_TTL_DAYS } from './tableDesign.ts';
import { buildUpdate } from './updateExpression.ts';

export type NotificationEvent = 'opened' | 'resolved' | 'reopened';
const EVENT_ORDER: Record<NotificationEvent, number> = { opened: 0, reopened: 1, resolved: 2 };

/** One alert's event (opened, resolved, reopened in a build): a member of one notification. */
export interface StoredAlertEvent {
  readonly eventId: string;
  readonly event: NotificationEvent;
  /** The build the event happened in (raised in, resolved in, seen again in). */
  readonly build: string;
  /** The notification (incident event) it belongs to. */
  readonly notificationId: string;
  readonly alert: StoredAlert;
  readonly createdAt: string;
}

/**
 * What people are told: one notification per firmware line × build × destination organisation ×
 * event, listing every alert event of that group (its `members`). Alerts of a group raised by later
 * batches join it; each channel records which members it has sent (`sent_<channel>`), so a member
 * that joins after the first message is sent as a follow-up (in the incident's Slack thread when a
 * Slack app is configured), and none is sent twice.
 */
export interface StoredNotification {
  readonly notificationId: string;
  readonly event: NotificationEvent;
  readonly build: string;
  /** The build's date: notifications of one batch are told in build order. */
  readonly builtAt: string;
  readonly lineKey: string;
  readonly organisation: string;
  /** The `opened` notification whose thread this one continues (itself for an `opened` one). */
  readonly incidentId: string;
  /** Ids of the alert events grouped here. */
  readonly members: Set<string>;
  /** Set when every channel has sent every member; removed when a member joins. */
  readonly deliveredAt?: string;
  readonly createdAt: string;
  readonly attempts?: number;
  readonly lastError?: string;
  /**
   * Per channel: `sent_<channel>` the members it sent, `delivered_<channel>` when it last sent,
   * `thread_<channel>` its first message, `attempt_<channel>`/`attemptAt_<channel>` a send begun
   * and not recorded as done.
   */
  readonly [perChannel: `${'sent' | 'thread' | 'delivered' | 'attempt' | 'attemptAt'}_${string}`]: unknown;
}

/** The members one channel has sent of a notification. */
export const sentBy = (n: StoredNotification, channel: string): Set<string> =>
  (n[`sent_${channel}`] as Set<string> | undefined) ?? new Set();
/**
 * A channel's send that began and was not recorded as done (the sender may have died in between):
 * when it began and the events it was to tell.
 */
export const attemptOf = (
  n: StoredNotification,
  channel: string,
): { at: Date; events: Set<string> } | undefined => {
  const at = n[`attemptAt_${channel}`] as string | undefined;
  const events = n[`attempt_${channel}`] as Set<string> | undefined;
  return at && events ? { at: new Date(at), events } : undefined;
};
/** A channel's reference to the first message of a notification (a Slack `ts`), to thread replies. */
export const threadOf = (n: StoredNotification, channel: string): string | undefined =>
  n[`thread_${channel}`] as string | undefined;

/** `N` + 11 hex digits of the group's SHA-256: short, stable, no separators. */
export function notificationIdOf(
  lineKey: string,
  build: string,
  organisation: string,
  event: NotificationEvent,
) {
  return `N${createHash('sha256').update(`${lineKey}\n${build}\n${organisation}\n${event}`).digest('hex').slice(0, 11)}`;
}

/**
 * The outbox: alert events and the notifications that group them, written in the same transaction
 * as the alert's change (AlertStore), delivered channel by channel by the notify function.
 */
export class OutboxStore extends TableAccess {
  /**
   * The writes that queue an alert's event: the event item (once per alert, event and build, however
   * often the cause is replayed: the transaction fails on its condition) and its notification, which
   * it joins (and makes pending again if it was delivered).
   */
  eventWrites(
    alert: StoredAlert,
    event: NotificationEvent,
    build: { build: string; builtAt: string },
    now: Date,
  ) {
    const eventId = `${alert.alertId}#${event}#${encodeURIComponent(build.build)}`;
    const notificationId = notificationIdOf(alert.lineKey, build.build, alert.organisation, event);
    // An `opened` notification is its own incident; a resolution or reopening continues the
    // incident that opened the alert (its first event's build).
    const incidentId =
      event === 'opened'
        ? notificationId
        : notificationIdOf(alert.lineKey, alert.build, alert.organisation, 'opened');
    // The alert as its notification shows it: the same whether it was read from the table or kept
    // by the batch that wrote it (no keys, no index attributes).
    const {
      seenInBuilds: _seen,
      lastSeenInBuild: _last,
      setsCapped: _capped,
      pk: _pk,
      sk: _sk,
      type: _type,
      alertOrder: _order,
      ...snapshot
    } = alert as StoredAlert & Record<string, unknown>;
    const join = buildUpdate({
      set: {
        type: 'notification',
        event,
        build: build.build,
        builtAt: build.builtAt,
        lineKey: alert.lineKey,
        organisation: alert.organisation,
      },
      setOnce: { notificationId, incidentId, createdAt: now.toISOString() },
      add: { members: new Set([eventId]) },
      remove: ['deliveredAt', 'expiresAt'],
    });
    return [
      {
        Put: {
          TableName: this.tableName,
          Item: {
            ...keys.alertEvent(eventId),
            type: 'alert-event',
            eventId,
            event,
            build: build.build,
            notificationId,
            alert: snapshot,
            createdAt: now.toISOString(),
            // Kept while its notification can still be pending or re-read, then expires.
            expiresAt: Math.floor(now.getTime() / 1000) + 2 * NOTIFICATION_TTL_DAYS * 86400,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
      { Update: { TableName: this.tableName, Key: keys.notification(notificationId), ...join } },
    ];
  }

  /** Notifications with something not yet sent on every channel, oldest first (local mode's outbox reader). */
  async pendingNotifications(): Promise<StoredNotification[]> {
    const items = await this.queryAll(keys.outbox, keys.notificationPrefix);
    return (items as unknown as StoredNotification[])
      .filter((n) => !n.deliveredAt)
      .sort(
        (a, b) =>
          a.createdAt.localeCompare(b.createdAt) ||
          a.builtAt.localeCompare(b.builtAt) ||
          EVENT_ORDER[a.event] - EVENT_ORDER[b.event],
      );
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

  /** The alert events of a notification, in the order their alerts were created. */
  async eventsOf(notification: StoredNotification): Promise<StoredAlertEvent[]> {
    const ids = [...notification.members];
    const events: StoredAlertEvent[] = [];
    for (let i = 0; i < ids.length; i += 100) {
      let request: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined =
        {
          [this.tableName]: {
            Keys: ids.slice(i, i + 100).map((id) => keys.alertEvent(id)),
            ConsistentRead: true,
          },
        };
      for (let round = 0; request && Object.keys(request).length > 0; round++) {
        if (round > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** round)));
        const result = await this.client.send(new BatchGetCommand({ RequestItems: request }));
        events.push(...((result.Responses?.[this.tableName] ?? []) as StoredAlertEvent[]));
        request = result.UnprocessedKeys as typeof request;
      }
    }
    return events.sort(
      (a, b) => a.alert.createdAt.localeCompare(b.alert.createdAt) || a.eventId.localeCompare(b.eventId),
    );
  }

  /**
   * Records that a channel is about to send `eventIds` (for channels that do not deduplicate
   * themselves): a sender that dies before markSent leaves it, and the next delivery asks the
   * channel whether the message arrived instead of sending it blindly again.
   */
  async markAttempt(
    notification: StoredNotification,
    channel: string,
    eventIds: ReadonlySet<string>,
    at: Date,
  ): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keys.notification(notification.notificationId),
        ...buildUpdate({
          set: { [`attemptAt_${channel}`]: at.toISOString(), [`attempt_${channel}`]: new Set(eventIds) },
        }),
      }),
    );
  }

  /**
   * Records that `channel` sent `eventIds` of a notification (and the thread its first message
   * started). `complete` (every channel has sent every member) marks the notification delivered,
   * unless a member joined since it was read (then its event delivers the rest).
   */
  async markSent(
    notification: StoredNotification,
    channel: string,
    eventIds: ReadonlySet<string>,
    at: Date,
    options: { complete: boolean; thread?: string | undefined },
  ): Promise<void> {
    const expiresAt = Math.floor(at.getTime() / 1000) + NOTIFICATION_TTL_DAYS * 86400;
    const send = (complete: boolean) => {
      const update = buildUpdate({
        set: {
          [`delivered_${channel}`]: at.toISOString(),
          ...(complete ? { deliveredAt: at.toISOString(), expiresAt } : {}),
        },
        ...(options.thread ? { setOnce: { [`thread_${channel}`]: options.thread } } : {}),
        add: { [`sent_${channel}`]: new Set(eventIds) },
        remove: [`attemptAt_${channel}`, `attempt_${channel}`],
      });
      return this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.notification(notification.notificationId),
          ...update,
          ...(complete
            ? {
                ConditionExpression: 'size(#members) = :memberCount',
                ExpressionAttributeNames: { ...update.ExpressionAttributeNames, '#members': 'members' },
                ExpressionAttributeValues: {
                  ...update.ExpressionAttributeValues,
                  ':memberCount': notification.members.size,
                },
              }
            : {}),
        }),
      );
    };
    try {
      await send(options.complete);
    } catch (error) {
      if (!(options.complete && error instanceof ConditionalCheckFailedException)) throw error;
      await send(false);
    }
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
