import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import type { StoredAlert } from '../../core/alerts/alert.ts';
import {
  parseSlackAppSecret,
  SlackAppChannel,
  SlackWebhookChannel,
  SnsChannel,
} from '../../core/notify/channels.ts';
import {
  formatIncident,
  type IncidentMessage,
  REPEAT_NOTE,
  slackIncidentMessage,
} from '../../core/notify/incident.ts';
import type { StoredAlertEvent, StoredNotification } from '../../core/store/outboxStore.ts';

const alert: StoredAlert = {
  rule: 'plaintext-begins',
  severity: 'high',
  title: 'RedMi 1S KHHCNBH39.0 begins sending IMEI in plaintext to api.account.xiaomi.com',
  explanation: 'explained',
  subject: 'xiaomi.com',
  dataType: 'imei',
  vendor: 'Xiaomi',
  model: 'RedMi 1S',
  line: 'MIUI-V5-CN-stable',
  build: 'KHHCNBH39.0',
  builtAt: '2014-08-05T00:00:00.000Z',
  baselineBuilds: ['KHHCNBH38.0'],
  deviceId: 'lab-redmi1s-01',
  sessionId: 's2',
  host: 'api.account.xiaomi.com',
  registrableDomain: 'xiaomi.com',
  organisation: 'Xiaomi',
  country: 'CN',
  transport: 'plaintext',
  transportDetail: 'plaintext HTTP',
  where: ['form:imei'],
  masked: '8646•••••••3454',
  encodings: [],
  evidence: 'matches a registered identifier',
  canary: false,
  flowId: 'f1',
  firstSeen: '2014-08-08T09:00:00.000Z',
  createdAt: '2026-01-01T00:00:00.000Z',
  alertId: 'A0123456789a',
  lineKey: 'Xiaomi|RedMi%201S|MIUI-V5-CN-stable',
  state: 'resolved',
  verification: 'unknown',
};

const other: StoredAlert = {
  ...alert,
  rule: 'sent-without-consent',
  title: 'RedMi 1S KHHCNBH39.0 sends IMSI to resolver.msg.xiaomi.net without opt-in (xiaomi.cloud-messaging)',
  dataType: 'imsi',
  host: 'resolver.msg.xiaomi.net',
  service: 'xiaomi.cloud-messaging',
  where: ['query:imsi'],
  masked: '4600•••••••0123',
  encodings: ['gzip', 'chunked', 'json', 'base64'],
  alertId: 'Abbbbbbbbbbb',
};

const eventOf = (a: StoredAlert, event: 'opened' | 'resolved', build: string): StoredAlertEvent => ({
  eventId: `${a.alertId}#${event}#${build}`,
  event,
  build,
  notificationId: `N-${event}`,
  alert: a,
  createdAt: '2026-01-01T00:00:00.000Z',
});

const notification = (
  event: 'opened' | 'resolved',
  build: string,
  members: StoredAlertEvent[],
): StoredNotification => ({
  notificationId: `N-${event}`,
  event,
  build,
  builtAt: '2014-08-12T00:00:00.000Z',
  lineKey: alert.lineKey,
  organisation: 'Xiaomi',
  incidentId: 'N-opened',
  members: new Set(members.map((m) => m.eventId)),
  createdAt: '2026-01-01T00:00:00.000Z',
});

const opened = [eventOf(alert, 'opened', 'KHHCNBH39.0'), eventOf(other, 'opened', 'KHHCNBH39.0')];
const openedMessage: IncidentMessage = {
  notification: notification('opened', 'KHHCNBH39.0', opened),
  events: opened,
  followUp: false,
};
const resolved = opened.map((e) => eventOf(e.alert, 'resolved', 'KHHCNBH40.0'));
const resolvedMessage: IncidentMessage = {
  notification: notification('resolved', 'KHHCNBH40.0', resolved),
  events: resolved,
  followUp: false,
};

describe('an incident message', () => {
  it('names every data type with its rules, hosts, places and decoding chain, once', () => {
    const { subject, headline, text } = formatIncident(openedMessage);
    expect(subject).toBe(
      '[leakwatch high] RedMi 1S KHHCNBH39.0 sends IMEI, IMSI to Xiaomi (in plaintext, without opt-in)',
    );
    expect(text.split('\n')[0]).toBe(headline);
    expect(text.split(headline)).toHaveLength(2); // the headline once
    expect(text).toContain('To:          Xiaomi: api.account.xiaomi.com, resolver.msg.xiaomi.net (CN)');
    expect(text).toContain('IMSI (4600•••••••0123)');
    expect(text).toContain('  Hosts:     resolver.msg.xiaomi.net (plaintext HTTP; CN)');
    expect(text).toContain('  Encoded:   gzip → chunked → json → base64');
    expect(text).toContain('  Alerts:    Abbbbbbbbbbb (sent-without-consent)');
  });

  it('sent again after an interrupted delivery on a channel that cannot be asked, it says it may repeat', () => {
    expect(formatIncident(openedMessage).text).not.toContain(REPEAT_NOTE);
    const again = formatIncident({ ...openedMessage, repeat: true });
    expect(again.text.endsWith(REPEAT_NOTE)).toBe(true);
    expect(again.subject).toBe(formatIncident(openedMessage).subject);
    const slack = slackIncidentMessage({ ...resolvedMessage, repeat: true });
    expect(slack.blocks[0]).toEqual({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `:repeat: ${REPEAT_NOTE}` }],
    });
    expect(slack.blocks.slice(1)).toEqual(slackIncidentMessage(resolvedMessage).blocks);
  });

  it('SNS: text for e-mail, the subject for SMS, Chatbot JSON for HTTPS, lists as String.Array attributes', async () => {
    const sns = mockClient(SNSClient);
    sns.on(PublishCommand).resolves({ MessageId: 'm' });
    await new SnsChannel(new SNSClient({}), 'arn:aws:sns:eu-west-1:123456789012:alerts').deliver(
      resolvedMessage,
    );

    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input.Subject).toBe(
      '[leakwatch high] Resolved in KHHCNBH40.0: RedMi 1S no longer sends IMEI, IMSI to Xiaomi as before',
    );
    expect(input.Subject!.length).toBeLessThanOrEqual(100);
    const message = JSON.parse(input.Message!);
    expect(message.email).toContain(
      'Status:      resolved: build KHHCNBH40.0 of MIUI-V5-CN-stable no longer does this',
    );
    expect(message.sms).toBe(input.Subject);
    expect(JSON.parse(message.https)).toMatchObject({
      version: '1.0',
      source: 'custom',
      content: { textType: 'client-markdown', title: input.Subject },
      metadata: { threadId: 'N-opened', eventType: 'resolved' },
    });
    expect(input.MessageAttributes).toMatchObject({
      event: { DataType: 'String', StringValue: 'resolved' },
      organisation: { DataType: 'String', StringValue: 'Xiaomi' },
      rule: { DataType: 'String.Array', StringValue: '["plaintext-begins","sent-without-consent"]' },
      dataType: { DataType: 'String.Array', StringValue: '["imei","imsi"]' },
      country: { DataType: 'String.Array', StringValue: '["CN"]' },
    });
    sns.restore();
  });
});

describe('Slack', () => {
  const fakeSlack = () => {
    const posts: { url: string; headers: Record<string, string>; body: Record<string, unknown> }[] = [];
    let ts = 0;
    const fetchImpl = (async (url: string, init: { headers: Record<string, string>; body: string }) => {
      posts.push({ url, headers: init.headers, body: JSON.parse(init.body) });
      return new Response(JSON.stringify({ ok: true, ts: `1700000000.00000${++ts}` }), { status: 200 });
    }) as unknown as typeof fetch;
    return { posts, fetchImpl };
  };

  it('an app posts with its token, starts a thread with the first message and replies in it', async () => {
    const { posts, fetchImpl } = fakeSlack();
    const channel = new SlackAppChannel(() => ({ token: 'xoxb-test', channel: 'C0123ABCD' }), fetchImpl);
    const first = await channel.deliver(openedMessage);
    const reply = await channel.deliver({ ...resolvedMessage, thread: first.thread });

    expect(first).toEqual({ thread: '1700000000.000001' });
    expect(reply).toEqual({}); // a reply starts no thread of its own
    expect(posts.map((p) => [p.url, p.headers.authorization, p.body.channel, p.body.thread_ts])).toEqual([
      ['https://slack.com/api/chat.postMessage', 'Bearer xoxb-test', 'C0123ABCD', undefined],
      ['https://slack.com/api/chat.postMessage', 'Bearer xoxb-test', 'C0123ABCD', '1700000000.000001'],
    ]);
    expect(JSON.stringify(posts)).not.toContain('864690020123454');
  });

  it("an app's refusal (ok: false) is a failed delivery that names Slack's reason, never the token", async () => {
    const fetchImpl = (async () =>
      new Response(JSON.stringify({ ok: false, error: 'channel_not_found' }))) as unknown as typeof fetch;
    const channel = new SlackAppChannel(() => ({ token: 'xoxb-secret', channel: 'C0123ABCD' }), fetchImpl);
    await expect(channel.deliver(openedMessage)).rejects.toThrow(
      'Slack chat.postMessage refused the message: channel_not_found',
    );
    expect(() => parseSlackAppSecret('xoxb-secret', 'secret leakwatch/slack-app')).toThrow(
      'secret leakwatch/slack-app: not JSON; expected {"token": "xoxb-…", "channel": "C0123ABCD"}',
    );
    expect(() => parseSlackAppSecret('{"token":"abc","channel":"C1"}', 's')).toThrow(
      '"token" must be a Slack bot token',
    );
    expect(parseSlackAppSecret('{"token":"xoxb-1","channel":"C1"}', 's')).toEqual({
      token: 'xoxb-1',
      channel: 'C1',
    });
  });

  it('a webhook posts every message on its own (it cannot thread) and escapes what devices chose', async () => {
    const { posts, fetchImpl } = fakeSlack();
    const hostile = { ...alert, host: 'evil<@U123>&co.example' };
    const channel = new SlackWebhookChannel(() => 'https://hooks.slack.invalid/x', fetchImpl);
    expect(
      await channel.deliver({ ...openedMessage, events: [eventOf(hostile, 'opened', 'KHHCNBH39.0')] }),
    ).toBeUndefined();
    expect(posts[0]!.body.thread_ts).toBeUndefined();
    expect(JSON.stringify(posts[0]!.body)).toContain('evil&lt;@U123&gt;&amp;co.example');
  });
});
