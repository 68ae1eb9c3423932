import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import type { Alert, StoredAlert } from '../../core/alerts/alert.ts';
import { SlackAppChannel } from '../../core/notify/channels.ts';
import type { IncidentMessage } from '../../core/notify/incident.ts';
import { lineKey } from '../../core/store/keys.ts';
import { LeakwatchStore } from '../../core/store/leakwatchStore.ts';
import { sentBy, threadOf } from '../../core/store/outboxStore.ts';
import { createNotifyHandler } from '../../lambdas/notify/createNotifyHandler.ts';
import { ensureTable, LOCAL_NAMES, type LocalEmulators, startEmulators } from '../../local/emulators.ts';

/**
 * Incidents on the real table (dynalite): alert events join one notification per line × build ×
 * organisation × event; a channel sends what it has not sent yet, so an alert that joins after the
 * first message goes as a follow-up in the incident's thread, a resolution replies in the thread of
 * the incident that opened its alerts, and a replayed stream record sends nothing twice.
 */
const device = { id: 'lab-1', vendor: 'Xiaomi', model: 'RedMi 1S' };
const firmware = (build: string, builtAt: string) => ({ line: 'MIUI-V5-CN-stable', build, builtAt });
const line = lineKey(device, firmware('B2', '2014-08-05T00:00:00.000Z'));

function alertOf(
  dataType: Alert['dataType'],
  rule: Alert['rule'],
  host: string,
  organisation = 'Xiaomi',
): Alert {
  return {
    rule,
    severity: rule === 'new-organisation' ? 'medium' : 'high',
    title: `${rule} ${dataType} ${host}`,
    explanation: 'explained',
    subject: host.split('.').slice(-2).join('.'),
    dataType,
    vendor: device.vendor,
    model: device.model,
    line: 'MIUI-V5-CN-stable',
    build: 'B2',
    builtAt: '2014-08-05T00:00:00.000Z',
    baselineBuilds: ['B1'],
    deviceId: device.id,
    sessionId: 's2',
    host,
    registrableDomain: host.split('.').slice(-2).join('.'),
    organisation,
    transport: 'plaintext',
    transportDetail: 'plaintext HTTP',
    where: ['form:x'],
    masked: '12••34',
    encodings: [],
    evidence: 'matches a registered identifier',
    canary: false,
    flowId: 'f',
    firstSeen: '2014-08-08T09:00:00.000Z',
    createdAt: new Date().toISOString(),
  };
}

describe('incident notifications', () => {
  let emulators: LocalEmulators;
  let store: LeakwatchStore;
  const slackPosts: { thread_ts?: string; text: string; blocks: unknown[] }[] = [];
  const sns: IncidentMessage[] = [];
  let notify: ReturnType<typeof createNotifyHandler>;
  let sequence = 0;

  /** The stream's INSERT of one alert event, as the notify function receives it. */
  const deliverEvent = async (eventId: string, notificationId: string) =>
    notify(
      {
        Records: [
          {
            eventID: String(++sequence),
            eventName: 'INSERT',
            dynamodb: {
              SequenceNumber: String(sequence),
              NewImage: marshall({ type: 'alert-event', eventId, notificationId }) as never,
            },
          },
        ],
      },
      {} as Context,
    );
  const newestEvent = async () => {
    const pending = await store.outbox.pendingNotifications();
    const n = pending.at(-1)!;
    return { eventId: [...n.members][0]!, notificationId: n.notificationId };
  };

  beforeAll(async () => {
    emulators = await startEmulators(null);
    await ensureTable(emulators.dynamo, LOCAL_NAMES.table);
    store = new LeakwatchStore(emulators.documents, LOCAL_NAMES.table);
    let ts = 0;
    const fetchImpl = (async (_url: string, init: { body: string }) => {
      slackPosts.push(JSON.parse(init.body));
      return new Response(JSON.stringify({ ok: true, ts: `1700000000.00000${++ts}` }));
    }) as unknown as typeof fetch;
    notify = createNotifyHandler({
      store,
      channels: [
        {
          name: 'sns',
          deliver: async (message) => {
            sns.push(message);
            return undefined;
          },
        },
        new SlackAppChannel(() => ({ token: 'xoxb-test', channel: 'C0123ABCD' }), fetchImpl),
      ],
      log: () => undefined,
    });
  }, 30_000);

  afterAll(async () => {
    await emulators?.close();
  });

  it('one message for the alerts of one organisation, a follow-up in its thread for one that joins later', async () => {
    const now = new Date();
    // One batch raises two alerts of Xiaomi and one of another organisation.
    expect(
      await store.alerts.createAlert(
        line,
        alertOf('imei', 'plaintext-begins', 'api.account.xiaomi.com'),
        now,
      ),
    ).toBe(true);
    expect(
      await store.alerts.createAlert(
        line,
        alertOf('imsi', 'plaintext-begins', 'resolver.msg.xiaomi.net'),
        now,
      ),
    ).toBe(true);
    expect(
      await store.alerts.createAlert(
        line,
        alertOf('imei', 'new-organisation', 'sdk.tracker.example', 'Tracker Inc'),
        now,
      ),
    ).toBe(true);
    const pending = await store.outbox.pendingNotifications();
    expect(pending.map((n) => [n.organisation, n.members.size])).toEqual(
      expect.arrayContaining([
        ['Xiaomi', 2],
        ['Tracker Inc', 1],
      ]),
    );
    const xiaomi = pending.find((n) => n.organisation === 'Xiaomi')!;

    // The stream brings both Xiaomi events: the first delivers both, the second finds nothing left.
    for (const eventId of xiaomi.members) await deliverEvent(eventId, xiaomi.notificationId);
    expect(sns).toHaveLength(1);
    expect(sns[0]!.events.map((e) => e.alert.host).sort()).toEqual([
      'api.account.xiaomi.com',
      'resolver.msg.xiaomi.net',
    ]);
    expect(slackPosts).toHaveLength(1);
    expect(slackPosts[0]!.thread_ts).toBeUndefined();
    const delivered = (await store.outbox.getNotification(xiaomi.notificationId))!;
    expect(delivered.deliveredAt).toBeDefined();
    expect(threadOf(delivered, 'slack')).toBe('1700000000.000001');

    // A later batch raises one more Xiaomi alert of the same build: it joins the same notification.
    expect(
      await store.alerts.createAlert(
        line,
        alertOf('phone-number', 'sent-without-consent', 'api.account.xiaomi.com'),
        now,
      ),
    ).toBe(true);
    const joined = (await store.outbox.getNotification(xiaomi.notificationId))!;
    expect(joined.members.size).toBe(3);
    expect(joined.deliveredAt).toBeUndefined(); // pending again
    const late = [...joined.members].find((id) => !delivered.members.has(id))!;
    await deliverEvent(late, xiaomi.notificationId);
    await deliverEvent(late, xiaomi.notificationId); // the stream record again: nothing more

    expect(sns).toHaveLength(2);
    expect(sns[1]).toMatchObject({ followUp: true });
    expect(sns[1]!.events.map((e) => e.alert.dataType)).toEqual(['phone-number']);
    expect(slackPosts).toHaveLength(2);
    expect(slackPosts[1]!.thread_ts).toBe('1700000000.000001');
    expect(slackPosts[1]!.text).toContain('Also: RedMi 1S B2 sends phone number to Xiaomi');
    const done = (await store.outbox.getNotification(xiaomi.notificationId))!;
    expect(done.deliveredAt).toBeDefined();
    expect([...sentBy(done, 'slack')].sort()).toEqual([...done.members].sort());
  });

  it('a resolution is one message, in the thread of the incident that opened the alerts', async () => {
    const alerts = (await store.alerts.alertsOfLine(line)).filter(
      (a: StoredAlert) => a.organisation === 'Xiaomi',
    );
    const fixed = { build: 'B3', builtAt: '2014-08-12T00:00:00.000Z' };
    for (const alert of alerts)
      expect(await store.alerts.resolveAlert(line, alert, fixed, new Date(), true)).toBe(true);
    const { eventId, notificationId } = await newestEvent();
    const before = slackPosts.length;
    await deliverEvent(eventId, notificationId);

    const resolution = sns.at(-1)!;
    expect(resolution.notification.event).toBe('resolved');
    expect(resolution.events).toHaveLength(3);
    expect(slackPosts).toHaveLength(before + 1);
    expect(slackPosts.at(-1)!.thread_ts).toBe('1700000000.000001');
    // The resolution's notification is no thread of its own.
    expect(threadOf((await store.outbox.getNotification(notificationId))!, 'slack')).toBeUndefined();
  });

  it('marks a notification delivered only when no alert joined it since it was read', async () => {
    const { notificationId } = (await store.outbox.pendingNotifications()).find(
      (n) => n.organisation === 'Tracker Inc',
    )!;
    const read = (await store.outbox.getNotification(notificationId))!;
    const events = await store.outbox.eventsOf(read);
    // An alert joins between the read and the mark.
    await store.alerts.createAlert(
      line,
      alertOf('imsi', 'new-organisation', 'sdk.tracker.example', 'Tracker Inc'),
      new Date(),
    );
    await store.outbox.markSent(read, 'sns', new Set(events.map((e) => e.eventId)), new Date(), {
      complete: true,
    });
    await store.outbox.markSent(read, 'slack', new Set(events.map((e) => e.eventId)), new Date(), {
      complete: true,
    });

    const after = (await store.outbox.getNotification(notificationId))!;
    expect(after.members.size).toBe(2);
    expect(after.deliveredAt).toBeUndefined();
    expect(sentBy(after, 'sns').size).toBe(1);
    expect((await store.outbox.pendingNotifications()).map((n) => n.notificationId)).toContain(
      notificationId,
    );
  });
});
