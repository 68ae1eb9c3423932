import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import type { StoredAlert } from '../../core/alerts/alert.ts';
import { SnsChannel } from '../../core/notify/channels.ts';
import type { StoredNotification } from '../../core/store/leakwatchStore.ts';

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

describe('SNS channel', () => {
  it('publishes text for e-mail, the subject for SMS, Chatbot JSON for HTTPS, with filter attributes', async () => {
    const sns = mockClient(SNSClient);
    sns.on(PublishCommand).resolves({ MessageId: 'm' });
    const notification: StoredNotification = {
      notificationId: 'A0123456789a#resolved#KHHCNBH40.0',
      event: 'resolved',
      build: 'KHHCNBH40.0',
      alert,
      createdAt: '2026-01-01T00:00:00.000Z',
    };

    await new SnsChannel(new SNSClient({}), 'arn:aws:sns:eu-west-1:123456789012:alerts').deliver(
      notification,
    );

    const input = sns.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input.Subject).toBe(
      '[leakwatch high] Resolved in KHHCNBH40.0: RedMi 1S KHHCNBH39.0 begins sending IMEI in plaintext to a', // 100 characters, SNS's limit
    );
    expect(input.MessageStructure).toBe('json');
    const message = JSON.parse(input.Message!);
    expect(message.email).toContain(
      'Status:      resolved: build KHHCNBH40.0 of MIUI-V5-CN-stable no longer does this',
    );
    expect(message.sms).toBe(input.Subject);
    expect(JSON.parse(message.https)).toMatchObject({
      version: '1.0',
      source: 'custom',
      content: { textType: 'client-markdown', title: input.Subject },
      metadata: { threadId: 'A0123456789a', eventType: 'resolved' },
    });
    expect(
      Object.fromEntries(Object.entries(input.MessageAttributes!).map(([k, v]) => [k, v.StringValue])),
    ).toEqual({
      event: 'resolved',
      severity: 'high',
      rule: 'plaintext-begins',
      dataType: 'imei',
      vendor: 'Xiaomi',
      model: 'RedMi 1S',
      line: 'MIUI-V5-CN-stable',
      build: 'KHHCNBH40.0',
      transport: 'plaintext',
      country: 'CN',
    });
  });
});
