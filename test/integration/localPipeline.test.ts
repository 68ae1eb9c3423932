import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type LocalPipelineResult, runLocalPipeline } from '../../local/localPipeline.ts';
import { REGISTRATION } from '../../scenario/scenario.ts';
import { SCENARIO_BUILDS, scenarioJob } from '../helpers/scenario.ts';

/**
 * The whole local pipeline on the embedded emulators with real SDK clients: probe → kinesalite →
 * ingest handler (driven like Lambda's event source) → dynalite → alerts.
 */
const quiet = () => undefined;

describe('local pipeline on the bundled scenario', () => {
  let dataDir: string;
  let first: LocalPipelineResult;
  let second: LocalPipelineResult;
  let slackPayloads: unknown[];
  let closeSlack: () => Promise<void>;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'leakwatch-it-'));
    slackPayloads = [];
    const slack = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        slackPayloads.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => slack.listen(0, '127.0.0.1', resolve));
    closeSlack = () => new Promise((resolve) => slack.close(() => resolve()));
    const captures = await Promise.all(SCENARIO_BUILDS.map((name) => scenarioJob(name)));
    const registrations = [REGISTRATION];
    const slackWebhookUrl = `http://127.0.0.1:${(slack.address() as AddressInfo).port}/hook`;

    first = await runLocalPipeline({
      dataDir,
      captures,
      slackWebhookUrl,
      registrations,
      print: quiet,
      warn: quiet,
      extraRecords: [Buffer.from('not json at all'), Buffer.from(JSON.stringify({ schemaVersion: 2 }))],
    });
    second = await runLocalPipeline({ dataDir, captures, slackWebhookUrl, print: quiet, warn: quiet });
  });

  afterAll(async () => {
    await closeSlack();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('build 2 raises exactly the expected alerts, builds 1 and 3 none, and build 3 resolves them all', () => {
    const alerts = first.lines[0]!.alerts;
    const types = ['carrier-name', 'contact', 'imei', 'phone-number', 'sms-content'];
    const expected = [
      ...types.map((t) => `KHHCNBH39.0 plaintext-begins xiaomi.com ${t}`),
      ...types.map((t) => `KHHCNBH39.0 sent-without-consent xiaomi.com ${t}`),
      // Build 1 sent no personal data to anyone: Xiaomi is a new recipient of each type.
      ...types.map((t) => `KHHCNBH39.0 new-organisation Xiaomi ${t}`),
    ].sort();

    expect(alerts.map((a) => `${a.build} ${a.rule} ${a.subject} ${a.dataType}`).sort()).toEqual(expected);
    expect(alerts.every((a) => a.state === 'resolved' && a.resolvedIn === 'KHHCNBH40.0')).toBe(true);
    expect(alerts.every((a) => a.verification === 'unknown' && /^A[0-9a-f]{11}$/.test(a.alertId))).toBe(true);
    // One incident (line × build × organisation): one message when build 2 raises its 15 alerts,
    // one when build 3 resolves them, each naming every alert.
    expect(
      first.notifications.map((n) => [n.notification.event, n.notification.build, n.events.length]),
    ).toEqual([
      ['opened', 'KHHCNBH39.0', 15],
      ['resolved', 'KHHCNBH40.0', 15],
    ]);
    expect(first.notifications.every((n) => !n.followUp && n.notification.organisation === 'Xiaomi')).toBe(
      true,
    );
    expect(first.notifications[1]!.notification.incidentId).toBe(
      first.notifications[0]!.notification.notificationId,
    );
    expect(first.outbox.pending).toBe(0);
  });

  it('recognises the registered identifiers and the planted canaries', () => {
    const alerts = first.lines[0]!.alerts.filter((a) => a.rule === 'plaintext-begins');
    const why = Object.fromEntries(alerts.map((a) => [a.dataType, [a.evidence, a.canary]]));

    expect(why).toMatchObject({
      imei: ['matches a registered identifier', false],
      'phone-number': ['matches a registered identifier', false],
      'sms-content': ['matches a registered canary', true],
      contact: ['matches a registered canary', true],
    });
  });

  it('aggregates each build by destination, data type and transport', () => {
    const [b1, b2, b3] = first.lines[0]!.builds;
    const view = (b: typeof b1) =>
      b!.observations.map((o) => `${o.host} ${o.transport} ${o.dataType} ${o.flows}`).sort();

    expect(first.lines[0]!.builds.map((b) => [b.build, b.flows])).toEqual([
      ['KHHCNBH38.0', 4],
      ['KHHCNBH39.0', 6],
      ['KHHCNBH40.0', 4],
    ]);
    expect(view(b1)).toEqual([
      '192.168.31.1 plaintext - 2',
      'api.account.xiaomi.com tls - 1',
      'update.miui.com plaintext - 1',
    ]);
    expect(view(b2)).toEqual(
      expect.arrayContaining([
        'api.account.xiaomi.com plaintext - 2',
        'api.account.xiaomi.com plaintext imei 2',
        'api.account.xiaomi.com plaintext phone-number 2',
      ]),
    );
    expect(
      view(b3).filter((line) => !line.endsWith(' - 1') && !line.endsWith(' - 2') && !line.endsWith(' - 3')),
    ).toEqual([]);
  });

  it('puts malformed records in the dead-letter file with their reason and keeps every valid one', async () => {
    const letters = (await readFile(first.paths.deadLetters, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));

    // 14 flow records, a session-end record per capture, 2 malformed.
    expect(first.recordsPut).toBe(14 + 3 + 2);
    expect(first.poller.records).toBe(19);
    expect(letters.map((l) => l.reason)).toEqual([
      expect.stringMatching(/^record is not JSON/),
      'unsupported schemaVersion 2; this build reads version 1',
    ]);
    // At rest in the data directory: no raw record, owner-only (issue 20).
    for (const letter of letters) {
      expect(letter.data).toBeUndefined();
      expect(letter.dataSha256).toMatch(/^[0-9a-f]{64}$/);
      expect(letter.sequenceNumber).toBeDefined();
    }
    expect((await stat(first.paths.deadLetters)).mode & 0o777).toBe(0o600);
    expect(first.lines[0]!.builds.reduce((n, b) => n + b.flows, 0)).toBe(14);
  });

  it("reports the functions' Powertools metrics, which reconcile with the history and the outbox", () => {
    expect(first.metrics).toMatchObject({
      FlowsCounted: 14,
      MalformedRecords: 2,
      AlertsRaised: 15,
      AlertsResolved: 15,
      NotificationsDelivered: 2,
    });
    expect(first.metrics.FlowsRepeated ?? 0).toBe(0);
    // The second run replays every record: each is recognised, none counted again.
    expect(second.metrics).toMatchObject({ FlowsRepeated: 14 });
    expect(second.metrics.FlowsCounted ?? 0).toBe(0);
    expect(second.metrics.AlertsRaised ?? 0).toBe(0);
  });

  it('a second run over the same records creates no second alert, notification or count', async () => {
    const outbox = (await readFile(first.paths.outbox, 'utf8')).trim().split('\n');

    expect(second.notifications).toEqual([]);
    expect(outbox).toHaveLength(2);
    expect(slackPayloads).toHaveLength(2);
    expect(second.lines[0]!.alerts).toEqual(first.lines[0]!.alerts);
    expect(second.lines[0]!.builds.map((b) => b.flows)).toEqual(first.lines[0]!.builds.map((b) => b.flows));
    expect(second.lines[0]!.builds[1]!.observations).toEqual(first.lines[0]!.builds[1]!.observations);
  });

  it('posts one Block Kit message per incident to the Slack webhook, and one when it resolves', () => {
    type Message = {
      text: string;
      blocks: { type: string; text?: { text: string }; fields?: { text: string }[] }[];
    };
    const messages = slackPayloads as Message[];
    expect(messages).toHaveLength(2);
    const [raised, resolved] = messages as [Message, Message];

    expect(raised.text).toMatch(/^\[leakwatch high\] RedMi 1S KHHCNBH39.0 sends IMEI, /);
    // Header, summary, one section per data type (5), the verdict line.
    expect(raised.blocks.map((b) => b.type)).toEqual([
      'header',
      'section',
      ...Array(5).fill('section'),
      'context',
    ]);
    expect(raised.blocks[1]!.fields!.map((f) => f.text)).toEqual([
      '*Severity*\n:red_circle: high',
      '*Build*\nRedMi 1S · MIUI-V5-CN-stable · KHHCNBH39.0',
      '*Organisation*\nXiaomi: api.account.xiaomi.com',
      '*Alerts*\n15 on 5 data type(s)',
    ]);
    const imei = raised.blocks.find((b) => b.text?.text.startsWith('*IMEI*'))!.text!.text;
    expect(imei).toMatch(
      // Both flows that carried the IMEI (a form POST and a JSON one), counted from the build's observations.
      /^\*IMEI\* `8646•+3454`\nRules: plaintext-begins, sent-without-consent, new-organisation\nHosts: api\.account\.xiaomi\.com \(plaintext HTTP; 203\.0\.113\.10\): 2 flows\nWhere: form:imei, json:\$\.device\.imei\nEncoded: json$/,
    );
    expect(resolved.blocks[0]!.text!.text).toMatch(
      /^:white_check_mark: \*Resolved in KHHCNBH40.0: RedMi 1S no longer sends /,
    );
    expect(JSON.stringify(messages)).not.toContain('864690020123454');
  });
});
