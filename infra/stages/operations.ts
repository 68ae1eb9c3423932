import { Duration } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  Metric,
  SingleValueWidget,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { Stream } from 'aws-cdk-lib/aws-kinesis';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRIC, type MetricName } from '../../lambdas/shared/metricNames.ts';
import { metricsNamespace } from './leakwatchFunction.ts';

export interface OperationsProps {
  readonly alertTopic: ITopic;
  readonly stream: Stream;
  readonly ingest: IFunction;
  readonly notify: IFunction;
  readonly query: IFunction;
  readonly api: HttpApi;
  readonly deadLetterQueue: Queue;
  readonly failedNotifications: Queue;
  /** Ingest may fall this far behind the stream before the iterator-age alarm fires. @default 15 minutes */
  readonly maxIteratorAge?: Duration;
}

/**
 * How operators learn the pipeline is unwell: alarms on the alert topic (alarm and recovery) for
 * iterator age (ingest and notify falling behind), the dead-letter queue's depth, each function's
 * errors and throttles, record failures that persist and archive failures; and a dashboard of the
 * pipeline from the stream to the alerts.
 */
export class Operations extends Construct {
  readonly alarms: Alarm[] = [];
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: OperationsProps) {
    super(scope, id);
    const fiveMinutes = Duration.minutes(5);
    const namespace = metricsNamespace(this);
    const custom = (service: string, name: MetricName, label?: string): Metric =>
      new Metric({
        namespace,
        metricName: name,
        dimensionsMap: { service: `leakwatch-${service}` },
        statistic: 'Sum',
        period: fiveMinutes,
        ...(label ? { label } : {}),
      });
    const alarm = (
      alarmId: string,
      description: string,
      metric: IMetric,
      threshold: number,
      evaluationPeriods = 1,
    ): void => {
      const a = new Alarm(this, alarmId, {
        alarmDescription: `leakwatch: ${description}`,
        metric,
        threshold,
        evaluationPeriods,
        datapointsToAlarm: evaluationPeriods,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(new SnsAction(props.alertTopic));
      a.addOkAction(new SnsAction(props.alertTopic));
      this.alarms.push(a);
    };

    const maxAge = props.maxIteratorAge ?? Duration.minutes(15);
    // How far behind its stream a function is (the age of the newest record it read).
    const lag = (fn: IFunction) => fn.metric('IteratorAge', { statistic: 'Maximum', period: fiveMinutes });
    alarm(
      'IngestIteratorAge',
      `ingest is more than ${maxAge.toHumanString()} behind the flow stream (records near the stream's retention are lost); see the ingest function's errors and throttles`,
      lag(props.ingest),
      maxAge.toMilliseconds(),
      2,
    );
    alarm(
      'NotifyIteratorAge',
      `notification delivery is more than ${maxAge.toHumanString()} behind the table's stream`,
      lag(props.notify),
      maxAge.toMilliseconds(),
      2,
    );
    alarm(
      'DeadLetters',
      'records reached the dead-letter queue (malformed records with their reason, or batches that exhausted their retries); read them with aws sqs receive-message',
      props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        statistic: 'Maximum',
        period: fiveMinutes,
      }),
      1,
    );
    const functions: [string, IFunction][] = [
      ['Ingest', props.ingest],
      ['Notify', props.notify],
      ['Query', props.query],
    ];
    for (const [name, fn] of functions) {
      alarm(
        `${name}Errors`,
        `the ${name.toLowerCase()} function failed invocations (see its log group)`,
        fn.metricErrors({ statistic: 'Sum', period: fiveMinutes }),
        1,
      );
      alarm(
        `${name}Throttles`,
        `the ${name.toLowerCase()} function was throttled (account concurrency)`,
        fn.metricThrottles({ statistic: 'Sum', period: fiveMinutes }),
        1,
      );
    }
    // Partial batch failures do not count as function errors: record failures that persist for
    // 15 minutes (three periods) mean retries are not helping.
    alarm(
      'RecordFailuresPersist',
      'flow records keep failing in the ingest function (retried; then the dead-letter queue)',
      custom('ingest', METRIC.failedRecords),
      1,
      3,
    );
    alarm(
      'ArchiveFailures',
      'archive rows could not be written to Firehose (batches are delivered again)',
      custom('ingest', METRIC.archiveFailures),
      1,
    );

    const widget = (title: string, left: IMetric[], right: IMetric[] = []) =>
      new GraphWidget({ title, left, right, width: 12, height: 6 });
    const perFunction = (f: (fn: IFunction) => IMetric) => functions.map(([, fn]) => f(fn));
    this.dashboard = new Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(24),
      widgets: [
        [
          new TextWidget({
            markdown:
              '## leakwatch pipeline\nprobe → Kinesis → ingest → DynamoDB (+ archive) → outbox → notify → SNS/Slack. Alarms go to the alert topic.',
            width: 24,
            height: 2,
          }),
        ],
        [
          widget(
            'Flow stream: records in, ingest lag (ms)',
            [props.stream.metricIncomingRecords({ statistic: 'Sum', period: fiveMinutes })],
            [lag(props.ingest)],
          ),
          widget('Ingest: flows and findings', [
            custom('ingest', METRIC.flowsCounted, 'flows counted'),
            custom('ingest', METRIC.flowsRepeated, 'flows seen again (redelivery)'),
            custom('ingest', METRIC.findings, 'personal-data findings'),
          ]),
        ],
        [
          widget('Alerts and notifications', [
            custom('ingest', METRIC.alertsRaised, 'alerts raised'),
            custom('ingest', METRIC.alertsResolved, 'alerts resolved'),
            custom('notify', METRIC.notificationsDelivered, 'notifications delivered'),
          ]),
          widget('Failures', [
            custom('ingest', METRIC.malformedRecords, 'malformed (dead letters)'),
            custom('ingest', METRIC.failedRecords, 'record failures (retried)'),
            custom('ingest', METRIC.archiveFailures, 'archive failures'),
            custom('notify', METRIC.notificationFailures, 'delivery failures (retried)'),
            custom('api', METRIC.queryErrors, 'query errors'),
          ]),
        ],
        [
          widget('Functions: errors and throttles', [
            ...perFunction((fn) => fn.metricErrors({ statistic: 'Sum', period: fiveMinutes })),
            ...perFunction((fn) => fn.metricThrottles({ statistic: 'Sum', period: fiveMinutes })),
          ]),
          widget(
            'Functions: duration p99 (ms)',
            perFunction((fn) => fn.metricDuration({ statistic: 'p99', period: fiveMinutes })),
          ),
        ],
        [
          new SingleValueWidget({
            title: 'Queue depth',
            metrics: [
              props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ label: 'dead letters' }),
              props.failedNotifications.metricApproximateNumberOfMessagesVisible({
                label: 'failed notifications',
              }),
            ],
            width: 12,
            height: 4,
          }),
          widget(
            'Query API',
            [custom('api', METRIC.queries, 'queries'), props.api.metricServerError({ period: fiveMinutes })],
            [props.api.metricLatency({ statistic: 'p99', period: fiveMinutes })],
          ),
        ],
      ],
    });
  }
}
