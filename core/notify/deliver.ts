import type { LeakwatchStore, StoredNotification } from '../store/leakwatchStore.ts';
import type { NotificationChannel } from './channels.ts';

export class DeliveryFailedError extends Error {
  override name = 'DeliveryFailedError';
}

/**
 * Delivers one outbox notification on every channel that has not had it yet, marking each channel
 * as it succeeds; a channel that fails does not stop the others. Throws when any failed, so the
 * caller (the stream's event source) retries; a retry re-reads the item and skips delivered channels.
 */
export async function deliverNotification(
  notificationId: string,
  store: LeakwatchStore,
  channels: readonly NotificationChannel[],
  clock: () => Date = () => new Date(),
): Promise<{ delivered: string[]; skipped: boolean }> {
  const current: StoredNotification | undefined = await store.outbox.getNotification(notificationId);
  if (!current || current.deliveredAt) return { delivered: [], skipped: true };
  const done = new Set(Object.keys(current.delivered ?? {}));
  const failures: string[] = [];
  const delivered: string[] = [];
  for (const channel of channels) {
    if (done.has(channel.name)) continue;
    try {
      await channel.deliver(current);
      done.add(channel.name);
      delivered.push(channel.name);
      await store.outbox.markDelivered(
        notificationId,
        channel.name,
        clock(),
        channels.every((c) => done.has(c.name)),
      );
    } catch (error) {
      failures.push(`${channel.name}: ${(error as Error).message}`);
    }
  }
  const last = channels.at(-1);
  if (failures.length === 0 && delivered.length === 0 && last) {
    // Every channel had it already (a crash before the last mark): mark the notification done.
    await store.outbox.markDelivered(notificationId, last.name, clock(), true);
  }
  if (failures.length > 0) {
    await store.outbox.noteDeliveryFailure(notificationId, failures.join('; '));
    throw new DeliveryFailedError(`notification ${notificationId} not delivered: ${failures.join('; ')}`);
  }
  return { delivered, skipped: false };
}
