import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { alertsList, alertsVerify } from '../../cli/alertsCommand.ts';
import type { StoredAlert } from '../../core/alerts/alert.ts';
import { type LocalPipelineResult, runLocalPipeline } from '../../local/localPipeline.ts';
import { REGISTRATION } from '../../scenario/scenario.ts';
import { captureIo } from '../helpers/captureIo.ts';
import { SCENARIO_BUILDS, scenarioJob } from '../helpers/scenario.ts';

/**
 * The lifecycle past the scenario: alerts raised in build 2 and resolved in build 3 are reopened
 * when a later build (build 2's traffic again, as build 4) regresses, except the ones the lab
 * marked benign or false, which stay quiet. Verdicts go through the CLI.
 */
const quiet = () => undefined;

describe('alert lifecycle: verdicts, suppression and regressions', () => {
  let dataDir: string;
  let first: LocalPipelineResult;
  let regression: LocalPipelineResult;
  let suppressedId: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'leakwatch-lifecycle-'));
    const captures = await Promise.all(SCENARIO_BUILDS.map((name) => scenarioJob(name)));
    first = await runLocalPipeline({
      dataDir,
      captures,
      registrations: [REGISTRATION],
      print: quiet,
      warn: quiet,
    });

    const imeiPlaintext = first.lines[0]!.alerts.find(
      (a) => a.rule === 'plaintext-begins' && a.dataType === 'imei',
    )!;
    suppressedId = imeiPlaintext.alertId;
    const verdict = captureIo();
    expect(
      await alertsVerify(suppressedId, { dataDir, as: 'false-positive', note: 'test' }, verdict.io),
    ).toBe(0);
    expect(verdict.out()).toContain('false-positive (suppressed');

    const build2 = await scenarioJob('build-2');
    const build4 = {
      ...build2,
      context: {
        ...build2.context,
        firmware: { ...build2.context.firmware, build: 'KHHCNBH41.0', builtAt: '2014-09-01T00:00:00.000Z' },
        session: { ...build2.context.session, id: 'redmi1s-b41-oobe' },
      },
    };
    regression = await runLocalPipeline({ dataDir, captures: [build4], print: quiet, warn: quiet });
  }, 60_000);

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('reopens every resolved alert the regression shows again, notifying all but the suppressed one', () => {
    const alerts = regression.lines[0]!.alerts;
    expect(alerts).toHaveLength(15); // one alert per key per line: no second alert
    expect(alerts.every((a) => a.state === 'open' && a.reopenedIn === 'KHHCNBH41.0')).toBe(true);
    expect(alerts.every((a) => a.seenInBuilds?.has('KHHCNBH41.0'))).toBe(true);
    // One message for the incident the regression reopens, naming the 14 alerts it reopens.
    expect(regression.notifications).toHaveLength(1);
    const notified = regression.notifications.flatMap((n) => n.events.map((e) => e.alert.alertId));
    expect(regression.notifications.every((n) => n.notification.event === 'reopened')).toBe(true);
    expect(notified).toHaveLength(14);
    expect(notified).not.toContain(suppressedId);
    expect(alerts.find((a: StoredAlert) => a.alertId === suppressedId)!.verification).toBe('false-positive');
  });

  it('lists alerts by state through the CLI, and refuses an unknown verdict or alert', async () => {
    const list = captureIo();
    expect(await alertsList({ dataDir, state: 'open', json: true }, list.io)).toBe(0);
    const listed = JSON.parse(list.out()) as { alertId: string; seenInBuilds: string[] }[];
    expect(listed).toHaveLength(15);
    expect(listed[0]!.seenInBuilds).toEqual(['KHHCNBH39.0', 'KHHCNBH41.0']);

    await expect(alertsVerify(suppressedId, { dataDir, as: 'maybe' }, captureIo().io)).rejects.toThrow(
      '--as "maybe" is not one of unknown, true-positive, benign-positive, false-positive',
    );
    const missing = captureIo();
    expect(await alertsVerify('A000000000000', { dataDir, as: 'true-positive' }, missing.io)).toBe(1);
    expect(missing.err()).toContain('no alert A000000000000');
  });
});
