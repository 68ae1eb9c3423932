import { evidenceOf, type HostEvidence } from '../alerts/evidence.ts';
import type { LeakwatchStore } from '../store/leakwatchStore.ts';
import {
  attemptOf,
  type StoredAlertEvent,
  type StoredNotification,
  sentBy,
  threadOf,
} from '../store/outboxStore.ts';
import type { NotificationChannel } from './channels.ts';

export class DeliveryFailedError extends Error {
  override name = 'DeliveryFailedError';
}

export interface DeliveryResult {
  /** Channels that sent a message. */
  readonly delivered: string[];
  /** Nothing was left to send (delivered before, or no such notification). */
  readonly skipped: boolean;
  /** Alert events sent on some channel by this call. */
  readonly events: number;
}

/**
 * Delivers one notification on every channel: what a channel has not sent yet of the
 * notification's alert events, in one message (the first message names them all; events that
 * joined later go as a follow-up, in the incident's thread where the channel has threads). Each
 * channel records what it sent as it succeeds; a channel that fails does not stop the others.
 * Throws when any failed, so the caller (the stream's event source) retries; a retry re-reads the
 * notification and sends only what is still unsent.
 */
export async function deliverNotification(
  notificationId: string,
  store: LeakwatchStore,
  channels: readonly NotificationChannel[],
  clock: () => Date = () => new Date(),
): Promise<DeliveryResult> {
  const notification = await store.outbox.getNotification(notificationId);
  if (!notification || notification.deliveredAt) return { delivered: [], skipped: true, events: 0 };
  const events = await store.outbox.eventsOf(notification);
  const evidence = await evidenceFor(notification, events, store);
  const present = new Set(events.map((e) => e.eventId));
  // Every member's event was read (none missing, e.g. expired): only then can it be complete.
  const allPresent = present.size === notification.members.size;
  const failures: string[] = [];
  const delivered: string[] = [];
  const told = new Set<string>();
  const sent = new Map(channels.map((c) => [c.name, new Set(sentBy(notification, c.name))]));
  let incident: StoredNotification | undefined;
  for (const channel of channels) {
    const already = sent.get(channel.name)!;
    let pending = events.filter((e) => !already.has(e.eventId));
    if (pending.length === 0) continue;
    const followUp = already.size > 0;
    try {
      // Replies go under the incident's first message: this notification's own for a follow-up,
      // else the `opened` notification's that this one (a resolution, a reopening) continues.
      let thread = followUp ? threadOf(notification, channel.name) : undefined;
      if (!thread && notification.incidentId !== notification.notificationId) {
        incident ??= await store.outbox.getNotification(notification.incidentId);
        thread = incident && threadOf(incident, channel.name);
      }
      const message = { notification, followUp, thread, evidence };
      const record = async (ids: Set<string>, answer: { thread?: string } | undefined) => {
        for (const id of ids) {
          already.add(id);
          told.add(id);
        }
        const complete = allPresent && [...sent.values()].every((s) => [...present].every((id) => s.has(id)));
        await store.outbox.markSent(notification, channel.name, ids, clock(), {
          complete,
          thread: answer?.thread,
        });
      };
      // A send that began and was not recorded (the sender died in between): ask the channel
      // whether it arrived; one that cannot tell sends again, saying so.
      const attempt = channel.deduplicates ? undefined : attemptOf(notification, channel.name);
      const interrupted = attempt ? pending.filter((e) => attempt.events.has(e.eventId)) : [];
      let repeat = false;
      if (attempt && interrupted.length > 0) {
        const arrived = channel.arrived
          ? await channel.arrived({ ...message, events: interrupted }, attempt.at)
          : undefined;
        if (arrived) {
          const ids = new Set(interrupted.map((e) => e.eventId));
          await record(ids, arrived);
          thread ??= arrived.thread;
          pending = pending.filter((e) => !ids.has(e.eventId));
          if (pending.length === 0) continue;
        } else repeat = arrived === undefined;
      }
      const pendingIds = new Set(pending.map((e) => e.eventId));
      if (!channel.deduplicates)
        await store.outbox.markAttempt(notification, channel.name, pendingIds, clock());
      const answer = await channel.deliver({
        ...message,
        followUp: already.size > 0,
        thread,
        events: pending,
        ...(repeat ? { repeat } : {}),
      });
      delivered.push(channel.name);
      await record(pendingIds, answer);
    } catch (error) {
      failures.push(`${channel.name}: ${(error as Error).message}`);
    }
  }
  if (failures.length === 0 && delivered.length === 0) {
    // Every channel had sent everything (a crash before the last mark): mark it delivered.
    const last = channels.at(-1);
    if (last && allPresent)
      await store.outbox.markSent(notification, last.name, new Set(), clock(), { complete: true });
  }
  if (failures.length > 0) {
    await store.outbox.noteDeliveryFailure(notificationId, failures.join('; '));
    throw new DeliveryFailedError(`notification ${notificationId} not delivered: ${failures.join('; ')}`);
  }
  return { delivered, skipped: delivered.length === 0, events: told.size };
}

/**
 * Every host each alert's condition was seen on in the notification's build (one read of the
 * build's observations per delivery). A resolution needs none: it tells what stopped.
 */
async function evidenceFor(
  notification: StoredNotification,
  events: readonly StoredAlertEvent[],
  store: LeakwatchStore,
): Promise<Map<string, HostEvidence[]> | undefined> {
  if (notification.event === 'resolved' || events.length === 0) return undefined;
  const observations = await store.builds.observationsOfBuild(notification.lineKey, notification.build);
  return new Map(events.map((e) => [e.alert.alertId, evidenceOf(e.alert, observations)]));
}
