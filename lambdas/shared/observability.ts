import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';

import { METRICS_NAMESPACE, type MetricName } from './metricNames.ts';

export { METRIC, METRICS_NAMESPACE, type MetricName } from './metricNames.ts';

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

/** What each handler factory takes for its logs and metrics (tests and local mode pass their own). */
export interface ObservedDependencies {
  /** Powertools logger, metrics and tracer. @default the function's own (`observability(service)`) */
  readonly observability?: Observability;
  /** Where one-line notes go. @default the Powertools logger */
  readonly log?: (entry: Record<string, unknown>) => void;
}

/** A handler factory's observability and log sink: what its dependencies give, else the defaults. */
export function observabilityOf(
  service: 'ingest' | 'notify' | 'api',
  deps: ObservedDependencies,
): { obs: Observability; log: (entry: Record<string, unknown>) => void } {
  const obs = deps.observability ?? observability(service);
  return { obs, log: deps.log ?? loggerSink(obs.logger) };
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
