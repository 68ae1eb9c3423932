import { mostSevere, SEVERITY_RANK, type StoredAlert } from '../alerts/alert.ts';
import { type HostEvidence, hostEvidenceText } from '../alerts/evidence.ts';
import { consentTestFor } from '../alerts/resolution.ts';
import { RULES } from '../alerts/rules.ts';
import { dataTypeLabel } from '../classify/dataTypes.ts';
import type { NotificationEvent, StoredAlertEvent, StoredNotification } from '../store/outboxStore.ts';

/** SNS subjects are limited to 100 ASCII characters. */
const MAX_SUBJECT = 100;
/** Slack refuses a message of more than 50 blocks; data types beyond these are summed up. */
const MAX_SLACK_DATA_TYPES = 40;

/** What one message about a notification carries: all its events, or those that joined since. */
export interface IncidentMessage {
  readonly notification: StoredNotification;
  /** The events this message tells about (all of them in the first message of a channel). */
  readonly events: readonly StoredAlertEvent[];
  /** A later message of the same notification: events that joined after the first was sent. */
  readonly followUp: boolean;
  /** The channel's reference to the incident's first message (a Slack `ts`), to reply in its thread. */
  readonly thread?: string | undefined;
  /**
   * Per alert id, every host its condition was seen on in the notification's build, with counts
   * (from the build's observations); without it, the host of the alert's first flow is named.
   */
  readonly evidence?: ReadonlyMap<string, readonly HostEvidence[]> | undefined;
  /**
   * Sent again after an interrupted delivery (the sender died between sending and recording it)
   * on a channel that cannot tell whether the first one arrived: the message says it may repeat.
   */
  readonly repeat?: boolean;
}

/** What a message sent again after an interrupted delivery says. */
export const REPEAT_NOTE =
  'This message may repeat one sent before: its delivery was interrupted before it could be recorded.';

export interface FormattedIncident {
  readonly subject: string;
  readonly headline: string;
  readonly text: string;
  /** SNS message attributes: a string, or a list (String.Array) for filter policies. */
  readonly attributes: Record<string, string | string[]>;
}

const RULE_WORDS: Record<string, string> = {
  'plaintext-begins': 'in plaintext',
  'sent-without-consent': 'without opt-in',
  'new-organisation': 'to a new organisation',
  'new-country': 'to a new country',
  'hashed-in-plaintext': 'hashed, in plaintext',
};

const unique = <T>(values: Iterable<T>): T[] => [...new Set(values)];
const ruleSeverity = (rule: string) => RULES[rule as keyof typeof RULES]?.severity ?? 'low';
/** Rules the most severe first, then by name. */
const byRuleSeverity = (a: string, b: string) =>
  SEVERITY_RANK[ruleSeverity(a)] - SEVERITY_RANK[ruleSeverity(b)] || a.localeCompare(b);

/** One data type of an incident: every rule, host, transport, place and encoding its alerts name. */
export interface DataTypeGroup {
  readonly dataType: StoredAlert['dataType'];
  readonly label: string;
  readonly masked: string;
  readonly alerts: readonly StoredAlert[];
  readonly rules: string[];
  readonly hosts: string[];
  readonly transports: string[];
  readonly where: string[];
  readonly encodings: string[];
  readonly evidence: string[];
  readonly canary: boolean;
}

/** The hosts of a data type's alerts: the evidence's (merged by host and transport), else each alert's first host. */
function hostsOf(
  alerts: readonly StoredAlert[],
  evidence: ReadonlyMap<string, readonly HostEvidence[]> | undefined,
): { hosts: string[]; where: string[]; encodings: string[] } {
  const seen = new Map<string, HostEvidence>();
  for (const a of alerts) {
    for (const e of evidence?.get(a.alertId) ?? []) {
      const key = `${e.host}\u0000${e.transport}`;
      const known = seen.get(key);
      if (!known || e.flows > known.flows) seen.set(key, e);
    }
  }
  if (seen.size === 0) {
    return {
      hosts: unique(
        alerts.map(
          (a) => `${a.host} (${a.transportDetail ?? a.transport}${a.country ? `; ${a.country}` : ''})`,
        ),
      ),
      where: unique(alerts.flatMap((a) => a.where)),
      encodings: unique(alerts.filter((a) => a.encodings.length).map((a) => a.encodings.join(' → '))),
    };
  }
  const list = [...seen.values()].sort((a, b) => b.flows - a.flows || a.host.localeCompare(b.host));
  return {
    hosts: list.map(hostEvidenceText),
    where: unique([...alerts.flatMap((a) => a.where), ...list.flatMap((e) => e.where)]),
    encodings: unique([
      ...alerts.filter((a) => a.encodings.length).map((a) => a.encodings.join(' → ')),
      ...list.flatMap((e) => e.encodings),
    ]),
  };
}

/** Every host the alerts name or their evidence adds, with the countries: `a.example, b.example (CN)`. */
function destinationsOf(
  alerts: readonly StoredAlert[],
  evidence: ReadonlyMap<string, readonly HostEvidence[]> | undefined,
): string {
  const found = alerts.flatMap((a) => evidence?.get(a.alertId) ?? []);
  const hosts = unique([...alerts.map((a) => a.host), ...found.map((e) => e.host)]);
  const countries = unique([...alerts, ...found].flatMap((x) => (x.country ? [x.country] : [])));
  return `${hosts.join(', ')}${countries.length ? ` (${countries.join(', ')})` : ''}`;
}

/** The events' alerts by data type, most severe first, then in the order they were raised. */
export function groupByDataType(
  events: readonly StoredAlertEvent[],
  evidence?: ReadonlyMap<string, readonly HostEvidence[]>,
): DataTypeGroup[] {
  const byType = new Map<string, StoredAlert[]>();
  for (const { alert } of events) {
    const list = byType.get(alert.dataType) ?? [];
    list.push(alert);
    byType.set(alert.dataType, list);
  }
  const groups = [...byType.values()].map((alerts): DataTypeGroup => {
    const first = alerts[0]!;
    return {
      dataType: first.dataType,
      label: dataTypeLabel(first.dataType),
      masked: first.masked,
      alerts,
      rules: unique(alerts.map((a) => a.rule)).sort(byRuleSeverity),
      ...hostsOf(alerts, evidence),
      transports: unique(alerts.map((a) => a.transport)),
      evidence: unique(alerts.map((a) => a.evidence)),
      canary: alerts.some((a) => a.canary),
    };
  });
  const rank = (g: DataTypeGroup) => SEVERITY_RANK[mostSevere(g.alerts.map((a) => a.severity))];
  return groups.sort((a, b) => rank(a) - rank(b));
}

function severityOf(events: readonly StoredAlertEvent[]): StoredAlert['severity'] {
  return mostSevere(events.map((e) => e.alert.severity));
}

function typesText(groups: readonly DataTypeGroup[], max = 3): string {
  const labels = groups.map((g) => g.label);
  return labels.length <= max
    ? labels.join(', ')
    : `${labels.slice(0, max).join(', ')} +${labels.length - max} more`;
}

function headlineOf(message: IncidentMessage, groups: readonly DataTypeGroup[]): string {
  const { notification: n, events } = message;
  const first = events[0]!.alert;
  const who = `${first.model} ${n.build}`;
  const how = unique(events.map((e) => e.alert.rule))
    .sort(byRuleSeverity)
    .map((rule) => RULE_WORDS[rule] ?? rule);
  const more = message.followUp ? 'Also: ' : '';
  const event: NotificationEvent = n.event;
  if (event === 'resolved')
    return `${more}Resolved in ${n.build}: ${first.model} no longer sends ${typesText(groups)} to ${n.organisation} as before`;
  const body = `${who} sends ${typesText(groups)} to ${n.organisation} (${how.join(', ')})`;
  return event === 'reopened' ? `${more}Seen again after a fix: ${body}` : `${more}${body}`;
}

/** Subject, text and filterable attributes of one message about a notification. */
export function formatIncident(message: IncidentMessage): FormattedIncident {
  const { notification: n, events } = message;
  if (events.length === 0) throw new Error(`notification ${n.notificationId}: nothing to tell`);
  const groups = groupByDataType(events, message.evidence);
  const severity = severityOf(events);
  const headline = headlineOf(message, groups);
  const subject = `[leakwatch ${severity}] ${headline}`.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_SUBJECT);
  const alerts = events.map((e) => e.alert);
  const first = alerts[0]!;
  const devices = unique(alerts.map((a) => a.deviceId));
  const status =
    n.event === 'resolved'
      ? [`Status:      resolved: build ${n.build} of ${first.line} no longer does this`]
      : n.event === 'reopened'
        ? [`Status:      open again: build ${n.build} does this again after it was resolved`]
        : [];
  const lines = [
    headline,
    '',
    ...status,
    `Device:      ${first.vendor} ${first.model} (${devices.join(', ')})`,
    `Firmware:    ${first.line} build ${n.build}${n.event === 'opened' ? ` (built ${first.builtAt.slice(0, 10)})` : `; raised in ${unique(alerts.map((a) => a.build)).join(', ')}`}`,
    ...(n.event === 'opened'
      ? [
          `Compared to: ${first.baselineBuilds.length ? first.baselineBuilds.join(', ') : 'no earlier build of this line'}`,
        ]
      : []),
    `To:          ${n.organisation}: ${destinationsOf(alerts, message.evidence)}`,
    `Alerts:      ${alerts.length} (${unique(alerts.map((a) => a.rule)).join(', ')})`,
  ];
  for (const g of groups) {
    lines.push('', `${g.label} (${g.masked})${g.canary ? ', a canary the lab planted' : ''}`);
    lines.push(`  Rules:     ${g.rules.map((r) => `${r} (${ruleSeverity(r)})`).join(', ')}`);
    lines.push(`  Hosts:     ${g.hosts.join(', ')}`);
    lines.push(`  Where:     ${g.where.join(', ')}`);
    if (g.encodings.length) lines.push(`  Encoded:   ${g.encodings.join('; ')}`);
    lines.push(`  Why:       ${g.evidence.join('; ')}`);
    lines.push(`  Alerts:    ${g.alerts.map((a) => `${a.alertId} (${a.rule})`).join(', ')}`);
    if (n.event !== 'resolved') {
      const since = g.alerts[0]!;
      lines.push(`  Since:     ${since.firstSeen} (session ${since.sessionId}, flow ${since.flowId})`);
    }
  }
  if (n.event !== 'resolved') {
    lines.push('', 'Why this matters:');
    for (const rule of unique(alerts.map((a) => a.rule))) {
      const explanation = alerts.find((a) => a.rule === rule)!.explanation;
      lines.push(`  ${rule}: ${explanation}`);
    }
    for (const service of unique(
      alerts.filter((a) => a.rule === 'sent-without-consent').map((a) => a.service),
    )) {
      lines.push(
        '',
        `To resolve the sent-without-consent alerts${service ? ` of ${service}` : ''}: test a later build in ${consentTestFor(service)}; a session with the service granted cannot show the fix.`,
      );
    }
    lines.push(
      '',
      `Set a verdict: leakwatch alerts verify <alert> --as true-positive|benign-positive|false-positive (alerts: ${alerts.map((a) => a.alertId).join(', ')})`,
    );
  }
  if (message.repeat) lines.push('', REPEAT_NOTE);
  return {
    subject,
    headline,
    text: lines.join('\n'),
    attributes: {
      event: n.event,
      severity,
      vendor: first.vendor,
      model: first.model,
      line: first.line,
      build: n.build,
      organisation: n.organisation,
      rule: unique(alerts.map((a) => a.rule)),
      dataType: unique(alerts.map((a) => a.dataType)),
      transport: unique(alerts.map((a) => a.transport)),
      ...(alerts.some((a) => a.country)
        ? { country: unique(alerts.flatMap((a) => (a.country ? [a.country] : []))) }
        : {}),
    },
  };
}

const SEVERITY_EMOJI = {
  high: ':red_circle:',
  medium: ':large_orange_circle:',
  low: ':white_circle:',
} as const;

/** Slack mrkdwn needs &, < and > escaped; hosts and paths come from devices under test. */
const escapeSlack = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Slack Block Kit message of one message about a notification (a webhook or chat.postMessage body). */
export function slackIncidentMessage(message: IncidentMessage): { text: string; blocks: unknown[] } {
  const body = slackIncidentBody(message);
  if (!message.repeat) return body;
  return {
    text: body.text,
    blocks: [
      { type: 'context', elements: [{ type: 'mrkdwn', text: `:repeat: ${REPEAT_NOTE}` }] },
      ...body.blocks,
    ],
  };
}

function slackIncidentBody(message: IncidentMessage): { text: string; blocks: unknown[] } {
  const { notification: n, events } = message;
  const { subject, headline } = formatIncident(message);
  const groups = groupByDataType(events, message.evidence);
  const alerts = events.map((e) => e.alert);
  const first = alerts[0]!;
  if (n.event === 'resolved') {
    return {
      text: subject,
      blocks: [
        {
          type: 'section',
          text: { type: 'mrkdwn', text: `:white_check_mark: *${escapeSlack(headline)}*` },
        },
        {
          type: 'context',
          elements: [
            {
              type: 'mrkdwn',
              text: escapeSlack(
                `${first.model} · ${first.line} · raised in ${unique(alerts.map((a) => a.build)).join(', ')} · ${groups.map((g) => g.label).join(', ')} · alerts ${alerts.map((a) => a.alertId).join(', ')}`,
              ),
            },
          ],
        },
      ],
    };
  }
  const severity = severityOf(events);
  const shown = groups.slice(0, MAX_SLACK_DATA_TYPES);
  return {
    text: subject,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: headline.slice(0, 150) } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: `*Severity*\n${SEVERITY_EMOJI[severity]} ${severity}` },
          { type: 'mrkdwn', text: escapeSlack(`*Build*\n${first.model} · ${first.line} · ${n.build}`) },
          {
            type: 'mrkdwn',
            text: escapeSlack(
              `*Organisation*\n${n.organisation}: ${destinationsOf(alerts, message.evidence)}`,
            ),
          },
          { type: 'mrkdwn', text: `*Alerts*\n${alerts.length} on ${groups.length} data type(s)` },
        ],
      },
      ...shown.map((g) => ({
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: escapeSlack(
            `*${g.label}* \`${g.masked}\`${g.canary ? ' (canary)' : ''}\nRules: ${g.rules.join(', ')}\nHosts: ${g.hosts.join(', ')}\nWhere: ${g.where.join(', ')}${g.encodings.length ? `\nEncoded: ${g.encodings.join('; ')}` : ''}`,
          ).slice(0, 3000),
        },
      })),
      ...(groups.length > shown.length
        ? [
            {
              type: 'context',
              elements: [
                {
                  type: 'mrkdwn',
                  text: `…and ${groups.length - shown.length} more data types (see the e-mail or \`leakwatch alerts\`)`,
                },
              ],
            },
          ]
        : []),
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: escapeSlack(
              `Verdict: \`leakwatch alerts verify <alert> --as true-positive|benign-positive|false-positive\` · alerts ${alerts.map((a) => a.alertId).join(', ')}`,
            ).slice(0, 3000),
          },
        ],
      },
    ],
  };
}

/** AWS Chatbot custom notification (version 1.0) for the topic's Chatbot subscription. */
export function chatbotNotification(message: IncidentMessage, formatted: FormattedIncident) {
  const { notification: n, events } = message;
  const first = events[0]!.alert;
  return {
    version: '1.0',
    source: 'custom',
    id: `${n.notificationId}#${events.map((e) => e.alert.alertId).join(',')}`.slice(0, 256),
    content: {
      textType: 'client-markdown',
      title: formatted.subject,
      description: formatted.text.split('\n').slice(2).join('\n').slice(0, 3500),
      ...(n.event !== 'resolved'
        ? {
            nextSteps: [
              'Verify: `leakwatch alerts verify <alert> --as true-positive|benign-positive|false-positive`',
            ],
          }
        : {}),
    },
    metadata: {
      threadId: n.incidentId,
      summary: formatted.subject,
      eventType: n.event,
      relatedResources: unique(events.map((e) => e.alert.host)),
      additionalContext: {
        model: first.model,
        line: first.line,
        build: n.build,
        organisation: n.organisation,
        alerts: events.map((e) => e.alert.alertId).join(','),
      },
    },
  };
}
