import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { runLocalPipeline } from '../../local/localPipeline.ts';
import { REGISTRATION } from '../../scenario/scenario.ts';
import { SCENARIO_BUILDS, scenarioJob } from '../helpers/scenario.ts';

/**
 * Delivery through the outbox under faults: Slack answering errors for a while, or down for a whole
 * run. Every notification (one per incident event: build 2 opens one, build 3 resolves it) reaches
 * every channel once: none lost, none twice.
 */
const quiet = () => undefined;

/** A Slack stand-in that fails while `failing()` says so, and records the payloads it accepted. */
async function slackReceiver(failing: () => boolean) {
  const accepted: { text: string }[] = [];
  let refused = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      if (failing()) {
        refused++;
        res.statusCode = 503;
        res.end('service unavailable');
        return;
      }
      accepted.push(JSON.parse(body));
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    accepted,
    refused: () => refused,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const outboxLines = async (path: string) =>
  (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { notificationId: string; events: string[] });

describe('notification delivery under faults', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('retries Slack while it fails and delivers every notification once on each channel', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'leakwatch-faults-'));
    let requests = 0;
    const slack = await slackReceiver(() => ++requests <= 5);
    cleanups.push(slack.close, () => rm(dataDir, { recursive: true, force: true }));
    const captures = await Promise.all(SCENARIO_BUILDS.map((name) => scenarioJob(name)));

    const result = await runLocalPipeline({
      dataDir,
      captures,
      registrations: [REGISTRATION],
      slackWebhookUrl: slack.url,
      notifyBackoffMs: 10,
      print: quiet,
      warn: quiet,
    });

    expect(slack.refused()).toBe(5);
    expect(result.outbox.pending).toBe(0);
    expect(result.outbox.attempts).toBeGreaterThan(1);
    expect(slack.accepted).toHaveLength(2);
    expect(new Set(slack.accepted.map((m) => m.text)).size).toBe(2);
    const sns = await outboxLines(result.paths.outbox);
    expect(sns).toHaveLength(2);
    expect(new Set(sns.map((n) => n.notificationId)).size).toBe(2);
    // Every alert event told once on each channel.
    expect(sns.flatMap((n) => n.events)).toHaveLength(30);
    expect(new Set(sns.flatMap((n) => n.events)).size).toBe(30);
  });

  it('keeps what Slack could not take in the outbox and delivers it after the outage, once', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'leakwatch-outage-'));
    let down = true;
    const slack = await slackReceiver(() => down);
    cleanups.push(slack.close, () => rm(dataDir, { recursive: true, force: true }));
    const captures = await Promise.all(SCENARIO_BUILDS.map((name) => scenarioJob(name)));
    const options = {
      dataDir,
      captures,
      slackWebhookUrl: slack.url,
      notifyAttempts: 2,
      notifyBackoffMs: 10,
      print: quiet,
      warn: quiet,
    };

    const during = await runLocalPipeline({ ...options, registrations: [REGISTRATION] });
    expect(during.outbox.pending).toBe(2);
    expect(slack.accepted).toHaveLength(0);

    down = false;
    const after = await runLocalPipeline(options);

    expect(after.outbox.pending).toBe(0);
    expect(slack.accepted).toHaveLength(2);
    // SNS got each notification in the first run; the retries did not send it again.
    expect(await outboxLines(after.paths.outbox)).toHaveLength(2);
    expect(after.lines[0]!.alerts).toHaveLength(15);
  });
});
