import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';

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
  alertsResolved: 'AlertsResolved',
  /** Batches whose archive rows could not be written (the batch is delivered again). */
  archiveFailures: 'ArchiveFailures',
  notificationsDelivered: 'NotificationsDelivered',
  /** Notifications whose delivery failed on this attempt (retried; then the failure queue). */
  notificationFailures: 'NotificationFailures',
  queries: 'Queries',
  /** Queries answered with 500. */
  queryErrors: 'QueryErrors',
} as const;
export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** Powertools logger, metrics and tracer of one function. */
export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
}

/** The functions' services: `leakwatch-ingest`, `leakwatch-notify`, `leakwatch-api`. */
export function observability(
  service: 'ingest' | 'notify' | 'api',
  { metrics, logger }: { metrics?: Metrics; logger?: Logger } = {},
): Observability {
  const serviceName = `leakwatch-${service}`;
  return {
    logger: logger ?? new Logger({ serviceName }),
    // The stack sets the namespace per deployment (`Leakwatch/<stack>`).
    metrics:
      metrics ??
      new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRICS_NAMESPACE, serviceName }),
    // Outside Lambda (local mode, tests) the tracer disables itself.
    tracer: new Tracer({ serviceName }),
  };
}

/** Adds `count` to a metric of the current invocation. */
export function count(obs: Observability, name: MetricName, n = 1): void {
  if (n > 0) obs.metrics.addMetric(name, MetricUnit.Count, n);
}

/**
 * The handler wrapped with the Powertools middlewares: a tracer segment per invocation, the Lambda
 * context on every log line (the handlers set the correlation id: the probe session, the alert, the
 * API request), metrics flushed as EMF at the end of each invocation with a cold-start metric.
 */
export function observed<E, R>(
  handler: (event: E, context: Context) => Promise<R>,
  obs: Observability,
): (event: E, context: Context) => Promise<R> {
  return middy(handler)
    .use(captureLambdaHandler(obs.tracer, { captureResponse: false }))
    .use(injectLambdaContext(obs.logger, { resetKeys: true }))
    .use(logMetrics(obs.metrics, { captureColdStartMetric: true })) as unknown as (
    event: E,
    context: Context,
  ) => Promise<R>;
}

/** A one-line log entry (`level`, `message`, fields) written through the Powertools logger. */
export function loggerSink(logger: Logger): (entry: Record<string, unknown>) => void {
  return ({ level, message, ...fields }) => {
    const text = String(message);
    if (level === 'ERROR') logger.error(text, fields);
    else if (level === 'WARN') logger.warn(text, fields);
    else logger.info(text, fields);
  };
}

/**
 * Metrics that keep running totals instead of printing EMF: local mode reports them, and tests read
 * what a Lambda would have published (the same `serializeMetrics` output CloudWatch receives).
 */
export class CountingMetrics extends Metrics {
  readonly totals: Record<string, number> = {};
  /** Each flushed EMF document, as CloudWatch would receive it. */
  readonly published: ReturnType<Metrics['serializeMetrics']>[] = [];

  override publishStoredMetrics(): this {
    if (this.hasStoredMetrics()) {
      const emf = this.serializeMetrics();
      this.published.push(emf);
      for (const directive of emf._aws.CloudWatchMetrics) {
        for (const { Name } of directive.Metrics) {
          const value = (emf as unknown as Record<string, number | number[]>)[Name];
          const values = Array.isArray(value) ? value : [value ?? 0];
          this.totals[Name] = (this.totals[Name] ?? 0) + values.reduce((a, b) => a + b, 0);
        }
      }
    }
    this.clearMetrics();
    this.clearDimensions();
    this.clearMetadata();
    return this;
  }
}
