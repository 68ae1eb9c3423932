import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from '@jest/globals';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import type { LeakwatchStore, StoredNotification } from '../../core/store/leakwatchStore.ts';
import { createNotifyHandler } from '../../lambdas/notify/createNotifyHandler.ts';
import { CountingMetrics, observability } from '../../lambdas/shared/observability.ts';
import { CapturingLogger } from '../helpers/capturingLogger.ts';

describe('notify handler', () => {
  it("logs a failed delivery with the alert's id as correlation id and counts it", async () => {
    const notification = {
      notificationId: 'N1',
      event: 'opened',
      build: 'B2',
      incidentId: 'N1',
      members: new Set(['A0123456789a#opened#B2']),
      createdAt: '2026-11-21T12:00:00Z',
    } as unknown as StoredNotification;
    const alertEvent = {
      type: 'alert-event',
      eventId: 'A0123456789a#opened#B2',
      notificationId: 'N1',
      event: 'opened',
      build: 'B2',
      alert: { alertId: 'A0123456789a', createdAt: '2026-11-21T12:00:00Z' },
    };
    const store = {
      outbox: {
        getNotification: async () => notification,
        eventsOf: async () => [alertEvent],
        noteDeliveryFailure: async () => undefined,
      },
    } as unknown as LeakwatchStore;
    const logger = new CapturingLogger({ serviceName: 'leakwatch-notify' });
    const metrics = new CountingMetrics({ namespace: 'Test' });
    const notify = createNotifyHandler({
      store,
      channels: [
        {
          name: 'sns',
          deliver: async () => {
            throw new Error('Service Unavailable');
          },
        },
      ],
      observability: observability('notify', { metrics, logger }),
    });
    const event: DynamoDBStreamEvent = {
      Records: [
        {
          eventID: '1',
          eventName: 'INSERT',
          dynamodb: {
            SequenceNumber: '1',
            NewImage: marshall(alertEvent) as never,
          },
        },
      ],
    };

    await expect(notify(event, { awsRequestId: 'r1' } as Context)).rejects.toThrow();

    expect(
      logger.lines.find((l) => l.message === 'notification not delivered; Lambda retries it'),
    ).toMatchObject({
      level: 'ERROR',
      correlation_id: 'A0123456789a',
      notificationId: 'N1',
    });
    expect(metrics.totals).toMatchObject({ NotificationFailures: 1 });
  });
});
