import { dataTypeLabel } from '../classify/dataTypes.ts';
import type { Alert } from './alert.ts';

/** SNS subjects are limited to 100 ASCII characters. */
const MAX_SUBJECT = 100;

export interface FormattedAlert {
  readonly subject: string;
  readonly text: string;
  readonly attributes: Record<string, string>;
}

export function formatAlert(alert: Alert): FormattedAlert {
  const subject = `[leakwatch ${alert.severity}] ${alert.title}`
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, MAX_SUBJECT);
  const text = [
    alert.title,
    '',
    `Device:      ${alert.vendor} ${alert.model} (${alert.deviceId})`,
    `Firmware:    ${alert.line} build ${alert.build} (built ${alert.builtAt.slice(0, 10)})`,
    `Compared to: ${alert.baselineBuild ?? 'no earlier build of this line'}`,
    `What:        ${dataTypeLabel(alert.dataType)} (${alert.masked})`,
    `To:          ${alert.host} (${alert.organisation}${alert.service ? `, service ${alert.service}` : ''}${alert.country ? `; ${alert.country}` : ''}${alert.asOrganisation ? `, network ${alert.asOrganisation}` : ''})`,
    `How:         ${alert.transportDetail ?? alert.transport}`,
    `Where:       ${alert.where.join(', ')}${alert.encodings.length ? ` (encoded: ${alert.encodings.join(' → ')})` : ''}`,
    `Why:         ${alert.evidence}${alert.canary ? ' (a canary the lab planted)' : ''}`,
    `Since:       ${alert.firstSeen} (session ${alert.sessionId}, flow ${alert.flowId})`,
    `Rule:        ${alert.rule} (${alert.severity})`,
    '',
    alert.explanation,
  ].join('\n');
  return {
    subject,
    text,
    attributes: {
      severity: alert.severity,
      rule: alert.rule,
      dataType: alert.dataType,
      model: alert.model,
      line: alert.line,
      transport: alert.transport,
    },
  };
}

/** Slack Block Kit message for an incoming webhook. */
export function slackMessage(alert: Alert): Record<string, unknown> {
  const { subject, text } = formatAlert(alert);
  return {
    text: subject,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: alert.title.slice(0, 150) } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: `*Severity*\n${alert.severity}` },
          { type: 'mrkdwn', text: `*Build*\n${alert.line} ${alert.build}` },
          { type: 'mrkdwn', text: `*Destination*\n${alert.host} (${alert.organisation})` },
          { type: 'mrkdwn', text: `*Data*\n${dataTypeLabel(alert.dataType)} via ${alert.transport}` },
        ],
      },
      { type: 'section', text: { type: 'mrkdwn', text: `\`\`\`${text}\`\`\`` } },
    ],
  };
}
