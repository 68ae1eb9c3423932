import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import type { NotificationChannel } from '../../core/notify/channels.ts';
import { deliverNotification } from '../../core/notify/deliver.ts';
import type { LeakwatchStore } from '../../core/store/leakwatchStore.ts';
import {
  count,
  METRIC,
  type ObservedDependencies,
  observabilityOf,
  observed,
} from '../shared/observability.ts';

export interface NotifyHandlerDependencies extends ObservedDependencies {
  readonly store: LeakwatchStore;
  readonly channels: readonly NotificationChannel[];
  readonly clock?: () => Date;
}

export type NotifyHandler = (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>;

/**
 * The notify function: reads new alert events from the table's stream (the outbox) and delivers
 * the notification each joined on every channel (SNS, Slack), one message for all its events. A failed delivery fails only its record (partial
 * batch response), which Lambda retries; what keeps failing goes to the on-failure queue, and the
 * item stays in the outbox, undelivered, for a redrive. Other items on the stream are ignored.
 */
export function createNotifyHandler(deps: NotifyHandlerDependencies): NotifyHandler {
  const processor = new BatchProcessor(EventType.DynamoDBStreams);
  const { obs, log } = observabilityOf('notify', deps);
  const recordHandler = async (record: DynamoDBRecord): Promise<void> => {
    const image = record.dynamodb?.NewImage;
    if (record.eventName !== 'INSERT' || !image) return;
    const item = unmarshall(image as Record<string, AttributeValue>);
    // A new alert event: deliver the notification it joined (with whatever else joined it).
    if (item.type !== 'alert-event') return;
    // The alert is the correlation id: its raise (ingest) and its deliveries share it.
    obs.logger.setCorrelationId(item.alert?.alertId ?? item.notificationId);
    try {
      const result = await deliverNotification(
        String(item.notificationId),
        deps.store,
        deps.channels,
        deps.clock,
      );
      if (!result.skipped) {
        count(obs, METRIC.notificationsDelivered);
        count(obs, METRIC.alertEventsNotified, result.events);
        log({
          level: 'INFO',
          message: 'notification delivered',
          notificationId: item.notificationId,
          channels: result.delivered,
          alertEvents: result.events,
        });
      }
    } catch (error) {
      count(obs, METRIC.notificationFailures);
      log({
        level: 'ERROR',
        message: 'notification not delivered; Lambda retries it',
        notificationId: item.notificationId,
        reason: (error as Error).message,
      });
      throw error;
    }
  };
  const batchHandler = async (event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> =>
    processPartialResponse(event, recordHandler, processor, { context, processInParallel: false });
  return observed(batchHandler, obs);
}
