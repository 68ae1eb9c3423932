import { mkdtemp, readFile, rm } from 'node:fs/promises';
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

  it('raises plaintext and no-consent alerts for build 2 (IMEI and phone number at least), none for builds 1 and 3', () => {
    const alerts = first.lines[0]!.alerts;
    const keys = alerts.map((a) => `${a.build} ${a.rule} ${a.dataType}`);

    expect(keys).toEqual(
      expect.arrayContaining([
        'KHHCNBH39.0 plaintext-begins imei',
        'KHHCNBH39.0 plaintext-begins phone-number',
        'KHHCNBH39.0 sent-without-consent imei',
        'KHHCNBH39.0 sent-without-consent phone-number',
      ]),
    );
    expect(alerts.every((a) => a.build === 'KHHCNBH39.0')).toBe(true);
    expect(alerts.every((a) => a.notifiedAt)).toBe(true);
    expect(first.newAlerts).toHaveLength(alerts.length);
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
      ['KHHCNBH40.0', 6],
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

    expect(first.recordsPut).toBe(16 + 2);
    expect(first.poller.records).toBe(18);
    expect(letters.map((l) => l.reason)).toEqual([
      expect.stringMatching(/^record is not JSON/),
      'unsupported schemaVersion 2; this build reads version 1',
    ]);
    expect(first.lines[0]!.builds.reduce((n, b) => n + b.flows, 0)).toBe(16);
  });

  it('a second run over the same records creates no second alert, notification or count', async () => {
    const outbox = (await readFile(first.paths.outbox, 'utf8')).trim().split('\n');

    expect(second.newAlerts).toEqual([]);
    expect(outbox).toHaveLength(first.newAlerts.length);
    expect(slackPayloads).toHaveLength(first.newAlerts.length);
    expect(second.lines[0]!.builds.map((b) => b.flows)).toEqual(first.lines[0]!.builds.map((b) => b.flows));
    expect(second.lines[0]!.builds[1]!.observations).toEqual(first.lines[0]!.builds[1]!.observations);
  });

  it('posts a Block Kit message to the Slack webhook', () => {
    const message = slackPayloads[0] as { text: string; blocks: { type: string }[] };

    expect(message.text).toMatch(/^\[leakwatch high\] RedMi 1S KHHCNBH39.0 /);
    expect(message.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section']);
  });
});
