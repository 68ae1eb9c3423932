import { dataTypeLabel } from '../classify/dataTypes.ts';
import type { Alert, StoredAlert } from './alert.ts';

/** SNS subjects are limited to 100 ASCII characters. */
const MAX_SUBJECT = 100;

export type AlertEvent = 'opened' | 'resolved' | 'reopened';

export interface FormattedAlert {
  readonly subject: string;
  readonly text: string;
  readonly attributes: Record<string, string>;
}

type Notifiable = Alert &
  Partial<Pick<StoredAlert, 'alertId' | 'resolvedIn' | 'reopenedIn' | 'verification'>>;

const headline = (alert: Notifiable, event: AlertEvent, build: string) =>
  event === 'resolved'
    ? `Resolved in ${build}: ${alert.title}`
    : event === 'reopened'
      ? `Seen again in ${build} after a fix: ${alert.title}`
      : alert.title;

/** Subject, body and filterable message attributes of a notification about an alert. */
export function formatAlert(
  alert: Notifiable,
  event: AlertEvent = 'opened',
  build = alert.build,
): FormattedAlert {
  const title = headline(alert, event, build);
  const subject = `[leakwatch ${alert.severity}] ${title}`
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, MAX_SUBJECT);
  const status =
    event === 'resolved'
      ? [`Status:      resolved: build ${build} of ${alert.line} no longer does this`]
      : event === 'reopened'
        ? [`Status:      open again: build ${build} does this again after it was resolved`]
        : [];
  const text = [
    title,
    '',
    ...status,
    `Device:      ${alert.vendor} ${alert.model} (${alert.deviceId})`,
    `Firmware:    ${alert.line} build ${alert.build} (built ${alert.builtAt.slice(0, 10)})`,
    `Compared to: ${alert.baselineBuilds.length ? alert.baselineBuilds.join(', ') : 'no earlier build of this line'}`,
    `What:        ${dataTypeLabel(alert.dataType)} (${alert.masked})`,
    `To:          ${alert.host} (${alert.organisation}${alert.service ? `, service ${alert.service}` : ''}${alert.country ? `; ${alert.country}` : ''}${alert.asOrganisation ? `, network ${alert.asOrganisation}` : ''})`,
    `How:         ${alert.transportDetail ?? alert.transport}`,
    `Where:       ${alert.where.join(', ')}${alert.encodings.length ? ` (encoded: ${alert.encodings.join(' → ')})` : ''}`,
    `Why:         ${alert.evidence}${alert.canary ? ' (a canary the lab planted)' : ''}`,
    `Since:       ${alert.firstSeen} (session ${alert.sessionId}, flow ${alert.flowId})`,
    `Rule:        ${alert.rule} (${alert.severity})${alert.alertId ? `; alert ${alert.alertId}` : ''}`,
    '',
    alert.explanation,
    ...(alert.alertId
      ? [
          '',
          `Set a verdict: leakwatch alerts verify ${alert.alertId} --as true-positive|benign-positive|false-positive`,
        ]
      : []),
  ].join('\n');
  return {
    subject,
    text,
    attributes: {
      event,
      severity: alert.severity,
      rule: alert.rule,
      dataType: alert.dataType,
      vendor: alert.vendor,
      model: alert.model,
      line: alert.line,
      build,
      transport: alert.transport,
      ...(alert.country ? { country: alert.country } : {}),
    },
  };
}

const SEVERITY_EMOJI = {
  high: ':red_circle:',
  medium: ':large_orange_circle:',
  low: ':white_circle:',
} as const;

/** Slack Block Kit message for an incoming webhook: the alert, or the follow-up when it resolves. */
export function slackMessage(
  alert: Notifiable,
  event: AlertEvent = 'opened',
  build = alert.build,
): Record<string, unknown> {
  const { subject } = formatAlert(alert, event, build);
  const title = headline(alert, event, build);
  if (event === 'resolved') {
    return {
      text: subject,
      blocks: [
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text: `:white_check_mark: *Resolved in ${build}*\n${alert.title}`,
          },
        },
        {
          type: 'context',
          elements: [
            {
              type: 'mrkdwn',
              text: `${alert.model} · ${alert.line} · raised in ${alert.build} · rule \`${alert.rule}\`${alert.alertId ? ` · alert ${alert.alertId}` : ''}`,
            },
          ],
        },
      ],
    };
  }
  return {
    text: subject,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: title.slice(0, 150) } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: `*Severity*\n${SEVERITY_EMOJI[alert.severity]} ${alert.severity}` },
          { type: 'mrkdwn', text: `*Build*\n${alert.model} · ${alert.line} · ${build}` },
          {
            type: 'mrkdwn',
            text: `*Destination*\n${alert.host} (${alert.organisation}${alert.country ? `, ${alert.country}` : ''})`,
          },
          {
            type: 'mrkdwn',
            text: `*Data*\n${dataTypeLabel(alert.dataType)} \`${alert.masked}\` via ${alert.transportDetail}`,
          },
        ],
      },
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `*Evidence*\n${alert.evidence}${alert.canary ? ' (a canary the lab planted)' : ''}\nWhere: ${alert.where.map((w) => `\`${w}\``).join(', ')}${alert.encodings.length ? `\nEncoded: ${alert.encodings.join(' → ')}` : ''}`,
        },
      },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `Rule \`${alert.rule}\`: ${alert.explanation}${alert.alertId ? ` · alert ${alert.alertId}` : ''}`,
          },
        ],
      },
    ],
  };
}
