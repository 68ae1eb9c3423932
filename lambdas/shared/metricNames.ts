/**
 * The functions' metric names and namespace, apart from the Powertools code that emits them: the
 * stack's alarms and dashboard read these at synth without loading the Lambda runtime libraries.
 */

/** CloudWatch namespace of leakwatch's own metrics (the stack's alarms and dashboard read it). */
export const METRICS_NAMESPACE = 'Leakwatch';

/** Every metric the functions emit (Count unit, dimension `service`). */
export const METRIC = {
  /** Flow records counted into the history (a redelivered record is not counted again). */
  flowsCounted: 'FlowsCounted',
  /** Flow records seen again (redelivery): recognised by their flow marker, not counted twice. */
  flowsRepeated: 'FlowsRepeated',
  /** Records that are not flow records: sent to the dead-letter queue with the reason. */
  malformedRecords: 'MalformedRecords',
  /** Records whose processing failed transiently (Lambda retries them; then the on-failure queue). */
  failedRecords: 'FailedRecords',
  /** Records whose processing failed in a way no retry mends: sent to the dead-letter queue. */
  poisonRecords: 'PoisonRecords',
  /** Personal-data findings in counted flows. */
  findings: 'Findings',
  alertsRaised: 'AlertsRaised',
  /** Item writes refused by their watermark condition (a retry's overlap), then narrowed to what was new. */
  itemWritesRetried: 'ItemWritesRetried',
  alertsResolved: 'AlertsResolved',
  /** Batches whose archive rows could not be written (the batch is delivered again). */
  archiveFailures: 'ArchiveFailures',
  /** Notifications (incident messages) that sent something on at least one channel. */
  notificationsDelivered: 'NotificationsDelivered',
  /** Alert events told for the first time on some channel (an incident message tells several). */
  alertEventsNotified: 'AlertEventsNotified',
  /** Notifications whose delivery failed on this attempt (retried; then the failure queue). */
  notificationFailures: 'NotificationFailures',
  queries: 'Queries',
  /** Queries answered with 500. */
  queryErrors: 'QueryErrors',
} as const;
export type MetricName = (typeof METRIC)[keyof typeof METRIC];
