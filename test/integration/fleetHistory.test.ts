/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { alertsVerify } from '../../cli/alertsCommand.ts';
import {
  buildCommand,
  buildsCommand,
  destinationsCommand,
  deviceCommand,
  diffCommand,
  reportCommand,
  sentCommand,
} from '../../cli/historyCommands.ts';
import { CliUsageError } from '../../cli/openStore.ts';
import {
  everyPage,
  FleetHistory,
  HistoryQueryError,
  type LineSummary,
} from '../../core/history/fleetHistory.ts';
import { type ApiHandler, createApiHandler } from '../../lambdas/api/createApiHandler.ts';
import { CountingMetrics, observability } from '../../lambdas/shared/observability.ts';
import { LOCAL_NAMES, type LocalEmulators, startEmulators } from '../../local/emulators.ts';
import { runLocalPipeline } from '../../local/localPipeline.ts';
import { REGISTRATION } from '../../scenario/scenario.ts';
import { captureIo } from '../helpers/captureIo.ts';
import { projectRoot, SCENARIO_BUILDS, scenarioJob } from '../helpers/scenario.ts';

/**
 * The fleet-history questions on the history the local pipeline builds from the bundled scenario
 * (build 38 before the leak, 39 leaking in plaintext without consent, 40 the fix).
 */
const quiet = () => undefined;
const [B38, B39, B40] = ['KHHCNBH38.0', 'KHHCNBH39.0', 'KHHCNBH40.0'];
const LEAKED = ['carrier-name', 'contact', 'imei', 'phone-number', 'sms-content'];

describe('fleet history on the scenario', () => {
  let dataDir: string;
  let emulators: LocalEmulators;
  let history: FleetHistory;
  let line: LineSummary;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'leakwatch-history-'));
    const captures = await Promise.all(SCENARIO_BUILDS.map((name) => scenarioJob(name)));
    await runLocalPipeline({ dataDir, captures, registrations: [REGISTRATION], print: quiet, warn: quiet });
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  describe('queries', () => {
    beforeAll(async () => {
      emulators = await startEmulators(dataDir);
      history = new FleetHistory(emulators.documents, LOCAL_NAMES.table);
      line = await history.resolveLine({ line: 'MIUI-V5-CN-stable' });
    });

    afterAll(async () => {
      await emulators?.close();
    });

    it('lists the line with its builds, devices and sessions', async () => {
      const { items, next } = await history.lines();
      expect(next).toBeUndefined();
      expect(items).toEqual([
        expect.objectContaining({
          vendor: 'Xiaomi',
          model: 'RedMi 1S',
          lineName: 'MIUI-V5-CN-stable',
          builds: 3,
          devices: 1,
          sessions: 3,
        }),
      ]);
    });

    it('lists builds newest first, a page at a time', async () => {
      const seen: string[] = [];
      let next: string | undefined;
      let pages = 0;
      do {
        const page = await history.builds(line.line, { limit: 1, ...(next ? { next } : {}) });
        seen.push(...page.items.map((b) => b.build));
        next = page.next;
        pages++;
      } while (next && pages < 10);
      expect(seen).toEqual([B40, B39, B38]);
      const all = await history.builds(line.line);
      expect(all.items[0]).toMatchObject({
        build: B40,
        builtAt: '2014-08-12T00:00:00.000Z',
        devices: 1,
        sessions: 1,
      });
      expect(all.items.every((b) => b.flows > 0)).toBe(true);
    });

    it('tells what one build sends: the leaking build sends every planted item in plaintext to Xiaomi', async () => {
      const report = await history.buildReport(line.line, B39, { all: true });
      expect(report.build).toMatchObject({ build: B39, model: 'RedMi 1S', vendor: 'Xiaomi' });
      const types = new Map(report.dataTypes.map((t) => [t.dataType, t]));
      for (const type of LEAKED) {
        expect(types.get(type)).toMatchObject({ exposure: 'plaintext', organisations: ['Xiaomi'] });
        expect(types.get(type)!.flowsWithoutConsent).toBeGreaterThan(0);
      }
      const imei = report.destinations.find(
        (d) => d.dataType === 'imei' && d.host === 'api.account.xiaomi.com',
      );
      expect(imei).toMatchObject({ transport: 'plaintext', organisation: 'Xiaomi' });
      expect(imei!.sample).toMatch(/•/);
      // Personal data is listed before the rest of the traffic.
      const firstOther = report.destinations.findIndex((d) => d.dataType === '-');
      expect(report.destinations.slice(firstOther).every((d) => d.dataType === '-')).toBe(true);
    });

    it('diffs the leaking build and the fix: every leak disappeared, nothing new', async () => {
      const diff = await history.diff(line.line, B39, B40);
      expect(diff.appeared).toEqual([]);
      expect(new Set(diff.disappeared.map((e) => e.dataType))).toEqual(new Set(LEAKED));
      expect(diff.disappeared.find((e) => e.dataType === 'imei')).toMatchObject({
        host: 'api.account.xiaomi.com',
        before: ['plaintext'],
        after: [],
      });
      for (const type of LEAKED)
        expect(diff.dataTypes.find((t) => t.dataType === type)).toEqual({
          dataType: type,
          before: 'plaintext',
          after: 'absent',
        });
    });

    it('diffs the build before the leak and the leaking build: the leaks appeared', async () => {
      const diff = await history.diff(line.line, B38, B39);
      expect(new Set(diff.appeared.map((e) => e.dataType))).toEqual(new Set(LEAKED));
      expect(diff.disappeared).toEqual([]);
    });

    it("shows a device's timeline across builds and sessions", async () => {
      const { items } = await history.device('lab-redmi1s-01');
      expect(items.map((r) => r.build)).toEqual([B38, B39, B40]);
      expect(items[1]!.plaintextDataTypes).toEqual(expect.arrayContaining(LEAKED));
      expect(items[2]!.plaintextDataTypes).toEqual([]);
      expect(items.every((r) => r.flows > 0 && r.sessionId.startsWith('redmi1s-b'))).toBe(true);
      expect((await history.device('no-such-device')).items).toEqual([]);
    });

    it('answers which builds ever sent a data type to an organisation or a country, from the indexes', async () => {
      const toXiaomi = await history.sent({ dataType: 'imei', organisation: 'Xiaomi' });
      expect(new Set(toXiaomi.items.map((r) => r.build))).toEqual(new Set([B39]));
      expect(toXiaomi.items).toContainEqual(
        expect.objectContaining({
          host: 'api.account.xiaomi.com',
          transport: 'plaintext',
          model: 'RedMi 1S',
        }),
      );
      // The scenario's servers use documentation addresses, which no database places: country ZZ.
      const nowhere = await history.sent({ dataType: 'imei', country: 'zz' });
      expect(new Set(nowhere.items.map((r) => r.build))).toEqual(new Set([B39]));
      expect(nowhere.items.every((r) => r.country === undefined)).toBe(true);
      expect((await history.sent({ dataType: 'imei', country: 'CN' })).items).toEqual([]);
      expect((await history.sent({ dataType: 'imei', organisation: 'Google' })).items).toEqual([]);
    });

    it('lists alerts filtered by state and severity', async () => {
      const open = await history.alerts({ state: 'open' });
      expect(open).toEqual([]);
      const high = await history.alerts({ severity: 'high' });
      expect(high.length).toBeGreaterThan(0);
      expect(high.every((a) => a.severity === 'high' && a.state === 'resolved')).toBe(true);
    });

    it("reads the fleet's alerts from the state index: the same alerts as the line's own partition", async () => {
      const ofLine = (await history.alertsOfLine(line.line)).items;
      expect(ofLine).toHaveLength(15);
      const fromIndex = await history.alerts();
      const ids = (alerts: { alertId: string }[]) => alerts.map((a) => a.alertId).sort();
      expect(ids(fromIndex)).toEqual(ids(ofLine));
      expect(fromIndex.map((a) => a.createdAt)).toEqual(fromIndex.map((a) => a.createdAt).sort());
      expect(ids(await history.alerts({ state: 'resolved' }))).toEqual(ids(ofLine));
      // A model's alerts come from its lines' partitions, with the same filters.
      expect(ids(await history.alerts({ model: 'RedMi 1S', severity: 'high' }))).toEqual(
        ids(ofLine.filter((a) => a.severity === 'high')),
      );
      expect(await history.alerts({ model: 'Mi 4' })).toEqual([]);
      const page = await history.alertsInState('resolved', { limit: 4 });
      expect(page.items).toHaveLength(4);
      expect(page.next).toBeDefined();
    });

    it("reads only a build's personal-data observations for its report (their own sort-key range)", async () => {
      const all = await everyPage((page) => history.destinations(line.line, B39, page));
      const personal = await everyPage((page) =>
        history.destinations(line.line, B39, page, { personalOnly: true }),
      );
      expect(all.some((d) => d.dataType === '-')).toBe(true);
      expect(personal.length).toBeGreaterThan(0);
      expect(personal).toEqual(all.filter((d) => d.dataType !== '-'));
    });

    it('says what is wrong with a bad question', async () => {
      await expect(history.builds(line.line, { next: 'garbage' })).rejects.toThrow(
        new HistoryQueryError('next: not a page token of a previous answer'),
      );
      await expect(history.builds(line.line, { limit: 0 })).rejects.toThrow(
        'limit 0: a whole number from 1 to 1000',
      );
      await expect(history.build(line.line, 'V9')).rejects.toMatchObject({ status: 404 });
      await expect(history.resolveLine({ line: 'nope' })).rejects.toMatchObject({
        message: 'no firmware line "nope"',
        status: 404,
        hint: 'known: RedMi 1S MIUI-V5-CN-stable',
      });
      // A page token is good for the question that made it only (issue 20: tokens were taken as any key).
      const first = await history.builds(line.line, { limit: 1 });
      const forged = Buffer.from(JSON.stringify({ pk: 'ALERTS#x', sk: 'y' })).toString('base64url');
      await expect(history.builds(line.line, { limit: 1, next: forged })).rejects.toThrow(
        'next: a page token of another question',
      );
      expect((await history.builds(line.line, { limit: 1, next: first.next! })).items).toHaveLength(1);
      await expect(history.sent({ dataType: 'imei' })).rejects.toThrow(
        'name either an organisation or a country',
      );
    });
  });

  describe('the HTTP API handler (same history, as API Gateway calls it)', () => {
    let api: ApiHandler;
    beforeAll(async () => {
      emulators = await startEmulators(dataDir);
      const { LeakwatchStore } = await import('../../core/store/leakwatchStore.ts');
      api = createApiHandler({
        history: new FleetHistory(emulators.documents, LOCAL_NAMES.table),
        store: new LeakwatchStore(emulators.documents, LOCAL_NAMES.table),
        log: quiet,
        observability: observability('api', { metrics: new CountingMetrics({ namespace: 'Test' }) }),
      });
    });
    afterAll(async () => {
      await emulators?.close();
    });
    const call = async (routeKey: string, query: Record<string, string> = {}, extra: object = {}) => {
      const response = await api(
        { routeKey, queryStringParameters: query, ...extra } as unknown as APIGatewayProxyEventV2,
        {} as Context,
      );
      return { status: response.statusCode, body: JSON.parse(String(response.body)) };
    };

    it('answers the questions as JSON', async () => {
      const lines = await call('GET /lines');
      expect(lines.status).toBe(200);
      expect(lines.body.items).toHaveLength(1);
      const builds = await call('GET /builds', { line: lines.body.items[0].line, limit: '1' });
      expect(builds.body.items.map((b: { build: string }) => b.build)).toEqual([B40]);
      expect(typeof builds.body.next).toBe('string');
      const diff = await call('GET /diff', {
        line: 'MIUI-V5-CN-stable',
        model: 'RedMi 1S',
        from: B39,
        to: B40,
      });
      expect(diff.status).toBe(200);
      expect(diff.body.disappeared.map((e: { dataType: string }) => e.dataType).sort()).toEqual(LEAKED);
      const sent = await call('GET /sent', { dataType: 'imei', organisation: 'Xiaomi' });
      expect(sent.body.items[0]).toMatchObject({ build: B39, host: 'api.account.xiaomi.com' });
      const device = await call('GET /device', { id: 'lab-redmi1s-01' });
      expect(device.body.items).toHaveLength(3);
      const build = await call('GET /build', { line: 'MIUI-V5-CN-stable', build: B40 });
      expect(build.body.dataTypes).toEqual([]);
    });

    it('sets a verdict, and says what is wrong with a request', async () => {
      const [alert] = (await call('GET /alerts', { severity: 'high' })).body.items;
      const verdict = await call(
        'POST /alerts/{alertId}/verification',
        {},
        {
          pathParameters: { alertId: alert.alertId },
          body: JSON.stringify({ verdict: 'true-positive', note: 'seen on the wire' }),
        },
      );
      expect(verdict.status).toBe(200);
      expect(verdict.body).toMatchObject({ alertId: alert.alertId, verification: 'true-positive' });
      expect(
        await call(
          'POST /alerts/{alertId}/verification',
          {},
          { pathParameters: { alertId: alert.alertId }, body: '{"verdict":"maybe"}' },
        ),
      ).toEqual({
        status: 400,
        body: { message: 'verdict: one of unknown, true-positive, benign-positive, false-positive' },
      });
      expect(
        await call(
          'POST /alerts/{alertId}/verification',
          {},
          { pathParameters: { alertId: 'A0' }, body: '{"verdict":"unknown"}' },
        ),
      ).toEqual({ status: 404, body: { message: 'no alert A0' } });
      expect(await call('GET /builds')).toEqual({ status: 400, body: { message: 'line is required' } });
      expect((await call('GET /build', { line: 'MIUI-V5-CN-stable', build: 'V9' })).status).toBe(404);
      expect(await call('GET /builds', { line: 'MIUI-V5-CN-stable', next: 'x' })).toEqual({
        status: 400,
        body: { message: 'next: not a page token of a previous answer' },
      });
      expect((await call('GET /nowhere')).status).toBe(404);
      // Client errors are 4xx without internals: no list of the deployment's lines, no echo of a long value.
      const unknownLine = await call('GET /builds', { line: 'nope' });
      expect(unknownLine).toEqual({ status: 404, body: { message: 'no firmware line "nope"' } });
      const long = await call('GET /device', { id: 'd'.repeat(5000) });
      expect(long).toEqual({
        status: 400,
        body: { message: 'id: at most 512 characters of well-formed text' },
      });
      expect((await call('GET /device', { id: 'lab-\ud800' })).status).toBe(400);
    });
  });

  describe('the CLI (on the local store, as after npm start)', () => {
    const line = 'MIUI-V5-CN-stable';

    it('lists lines and builds as tab-separated tables in a pipe, JSON with --json', async () => {
      const lines = captureIo();
      expect(await buildsCommand({ dataDir }, lines.io)).toBe(0);
      expect(lines.out().split('\n')[1]).toMatch(/^Xiaomi\tRedMi 1S\tMIUI-V5-CN-stable\t3\t1\t3\t/);
      const builds = captureIo();
      expect(await buildsCommand({ dataDir, line, limit: '2', json: true }, builds.io)).toBe(0);
      const page = JSON.parse(builds.out());
      expect(page.items.map((b: { build: string }) => b.build)).toEqual([B40, B39]);
      const rest = captureIo();
      expect(await buildsCommand({ dataDir, line, next: page.next, json: true }, rest.io)).toBe(0);
      expect(JSON.parse(rest.out()).items.map((b: { build: string }) => b.build)).toEqual([B38]);
    });

    it('shows a build, the diff that checks the fix, a device and where a data type went', async () => {
      const build = captureIo();
      await buildCommand(B39, { dataDir, line }, build.io);
      expect(build.out()).toContain('imei\tplaintext\t');
      expect(build.out()).toContain('(--all also lists the destinations that received no personal data)');
      expect(build.out()).not.toContain('(none)');
      const all = captureIo();
      await buildCommand(B39, { dataDir, line, all: true }, all.io);
      expect(all.out()).toContain('(none)');
      const diff = captureIo();
      await diffCommand(B39, B40, { dataDir, line }, diff.io);
      expect(diff.out()).toContain('disappeared\timei\tapi.account.xiaomi.com\tXiaomi\t\tplaintext\tabsent');
      const device = captureIo();
      await deviceCommand('lab-redmi1s-01', { dataDir }, device.io);
      expect(device.out().trim().split('\n')).toHaveLength(4);
      const sent = captureIo();
      await sentCommand({ dataDir, dataType: 'imei', organisation: 'Xiaomi' }, sent.io);
      expect(sent.out()).toContain(`RedMi 1S\tMIUI-V5-CN-stable\t${B39}\t2014-08-05\tapi.account.xiaomi.com`);
    });

    it("pages through a build's destinations, all of them or personal data only", async () => {
      const seen: string[] = [];
      let next: string | undefined;
      for (let pages = 0; pages < 20; pages++) {
        const page = captureIo();
        await destinationsCommand(
          B39,
          { dataDir, line, json: true, limit: '2', ...(next ? { next } : {}) },
          page.io,
        );
        const answer = JSON.parse(page.out());
        expect(answer.items.length).toBeLessThanOrEqual(2);
        seen.push(...answer.items.map((d: { dataType: string; host: string }) => `${d.dataType}@${d.host}`));
        next = answer.next;
        if (!next) break;
      }
      expect(next).toBeUndefined();
      expect(seen.some((d) => d.startsWith('-@'))).toBe(true);
      expect(seen).toContain('imei@api.account.xiaomi.com');
      const personal = captureIo();
      await destinationsCommand(B39, { dataDir, line, personalOnly: true }, personal.io);
      const rows = personal.out().trim().split('\n').slice(1);
      expect(rows.length).toBe(seen.filter((d) => !d.startsWith('-@')).length);
      expect(rows.every((r) => !r.startsWith('(none)'))).toBe(true);
      await expect(destinationsCommand('V9', { dataDir, line }, captureIo().io)).rejects.toMatchObject({
        status: 404,
      });
    });

    it('says what is wrong with a flag or a question', async () => {
      await expect(buildCommand(B39, { dataDir }, captureIo().io)).rejects.toThrow(
        new CliUsageError('--line is required (leakwatch builds lists the lines)'),
      );
      await expect(diffCommand(B39, 'V9', { dataDir, line }, captureIo().io)).rejects.toThrow(
        `no build "V9" in line Xiaomi|RedMi%201S|MIUI-V5-CN-stable`,
      );
      await expect(sentCommand({ dataDir, dataType: 'imei' }, captureIo().io)).rejects.toThrow(
        'name either --organisation or --country',
      );
      await expect(buildsCommand({ dataDir, line, limit: 'many' }, captureIo().io)).rejects.toThrow(
        '--limit "many": a whole number from 1 to 1000',
      );
    });
  });

  describe('the report (leakwatch report --out --pdf)', () => {
    // Never skipped: .ci/run installs Debian's chromium, and a machine without it fails here with
    // what to install (a skipped browser test could never fail in CI).
    const chromium = [process.env.LEAKWATCH_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
      (path) => path && existsSync(path),
    );
    let html: string;
    let file: string;
    let pdf: string;
    /** What the history says, read apart from the report, to compare the page's numbers with. */
    const truth = {
      flows: 0,
      xiaomiFlows: 0,
      runs: [] as { build: string; flows: number }[],
      falsePositive: '',
    };
    beforeAll(async () => {
      const store = await startEmulators(dataDir);
      try {
        const h = new FleetHistory(store.documents, LOCAL_NAMES.table);
        const l = await h.resolveLine({ line: 'MIUI-V5-CN-stable' });
        for (const b of (await h.builds(l.line)).items) {
          truth.flows += b.flows;
          const report = await h.buildReport(l.line, b.build, { all: true });
          for (const d of report.destinations)
            if (d.organisation === 'Xiaomi' && d.dataType === '-') truth.xiaomiFlows += d.flows;
        }
        truth.runs = (await h.device('lab-redmi1s-01')).items.map((r) => ({
          build: r.build,
          flows: r.flows,
        }));
        truth.falsePositive = (await h.alerts({})).find(
          (a) => a.rule === 'new-organisation' && a.dataType === 'imei',
        )!.alertId;
      } finally {
        await store.close();
      }
      // A lab verdict, to see it on the page.
      expect(await alertsVerify(truth.falsePositive, { dataDir, as: 'false-positive' }, captureIo().io)).toBe(
        0,
      );
      file = join(dataDir, 'report.html');
      pdf = join(dataDir, 'report.pdf');
      const out = captureIo();
      expect(await reportCommand({ dataDir, out: file, ...(chromium ? { pdf } : {}) }, out.io)).toBe(0);
      html = await readFile(file, 'utf8');
    }, 60_000);

    it("its numbers are the history's: flows counted once per flow, per destination and device", () => {
      expect(truth.flows).toBe(14);
      const flows = [...html.matchAll(/<td class="num flows">(\d+)<\/td>/g)].map((m) => Number(m[1]));
      expect(flows.reduce((a, b) => a + b, 0)).toBe(truth.flows);
      const xiaomi =
        /<tr data-organisation="Xiaomi"[^>]*>(?:<td[^>]*>[^<]*<\/td>){4}<td class="num flows">(\d+)<\/td>/.exec(
          html,
        );
      // 8 flows reached Xiaomi's hosts in the three builds; summing per data type counted 16.
      expect(Number(xiaomi?.[1])).toBe(truth.xiaomiFlows);
      expect(truth.xiaomiFlows).toBe(8);
      expect(truth.runs.map((r) => r.flows).reduce((a, b) => a + b, 0)).toBe(truth.flows);
    });

    it('is one self-contained page: no script, no external resource', () => {
      expect(html).toMatch(/^<!doctype html>/);
      expect(html).not.toMatch(/<script|<link |src=|@import|url\(/i);
      expect(html).toContain('<a href="https://db-ip.com">DB-IP</a>');
      // Values are never on the page: not the IMEI, not the planted SMS text.
      for (const { value } of REGISTRATION.values) expect(html).not.toContain(value);
    });

    it('renders in headless Chromium with the grid, destinations and alert timeline (screenshot in test-artifacts/)', async () => {
      if (!chromium)
        throw new Error(
          'no Chromium for the report page test: apt-get install chromium (as .ci/run does), or set LEAKWATCH_CHROMIUM to a Chromium binary',
        );
      const { launch } = await import('puppeteer-core');
      const browser = await launch({
        executablePath: chromium,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--no-first-run',
        ],
      });
      try {
        const page = await browser.newPage();
        const requests: string[] = [];
        page.on('request', (request) => requests.push(request.url()));
        await page.setViewport({ width: 1280, height: 900 });
        await page.goto(pathToFileURL(file).href, { waitUntil: 'networkidle0' });
        // Self-contained: the page itself is the only thing loaded.
        expect(requests).toEqual([pathToFileURL(file).href]);
        const seen = await page.evaluate(() => {
          const cell = (build: string, type: string) =>
            document.querySelector(`td[data-build="${build}"][data-type="${type}"]`) as HTMLElement | null;
          const grid = document.querySelector('table.grid')!;
          return {
            heading: document.querySelector('h2')?.textContent,
            columns: [...grid.querySelectorAll('thead th')].map((th) => th.firstChild?.textContent),
            rows: [...grid.querySelectorAll('tbody th')].map((th) => th.textContent),
            leak: {
              text: cell('KHHCNBH39.0', 'imei')?.textContent,
              colour: getComputedStyle(cell('KHHCNBH39.0', 'imei')!).backgroundColor,
            },
            fixed: cell('KHHCNBH40.0', 'imei')?.className,
            destinations: [...document.querySelectorAll('table.destinations tbody tr')].map(
              (tr) => tr.children[0]?.textContent,
            ),
            alerts: document.querySelectorAll('table.alerts tbody tr').length,
            resolved: [...document.querySelectorAll('table.alerts td.state-resolved')].length,
            open: document.querySelector('.open-alerts .big')?.textContent,
            verdicts: [...document.querySelectorAll('.verdicts li')].map((li) => li.textContent),
            regressions: [...document.querySelectorAll('.regressions li')].map((li) => li.textContent),
            incidents: [...document.querySelectorAll('svg.timeline g.incident')].map((g) => ({
              build: g.getAttribute('data-build'),
              organisation: g.getAttribute('data-organisation'),
              open: g.getAttribute('data-open'),
              resolvedMarks: g.querySelectorAll('circle.resolved').length,
            })),
            timelineBuilds: [...document.querySelectorAll('svg.timeline text.build')].map(
              (t) => t.textContent,
            ),
            diff: [...document.querySelectorAll('table.diff tbody tr')].map(
              (tr) => tr.children[0]?.textContent,
            ),
            devices: [...document.querySelectorAll('table.devices tbody tr')].map((tr) =>
              [...tr.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent),
            ),
            struck: [...document.querySelectorAll('table.alerts tr.verdict-false-positive td')].map(
              (td) => getComputedStyle(td).textDecorationLine,
            ),
          };
        });
        // The screenshot first: a failing run leaves the page it failed on in test-artifacts/.
        await mkdir(join(projectRoot, 'test-artifacts'), { recursive: true });
        await page.screenshot({ path: join(projectRoot, 'test-artifacts', 'report.png'), fullPage: true });
        expect(seen.heading).toBe('Xiaomi RedMi 1S · MIUI-V5-CN-stable');
        expect(seen.columns).toEqual(['data type', B38, B39, B40]);
        expect(seen.rows).toEqual(LEAKED);
        expect(seen.leak).toEqual({ text: 'plaintext', colour: 'rgb(215, 38, 61)' });
        expect(seen.fixed).toBe('absent');
        expect(seen.destinations).toContain('Xiaomi');
        expect(seen.alerts).toBe(15);
        expect(seen.resolved).toBe(15);
        // The summary: nothing open, one verdict, build 39 regressed (15 alerts, Xiaomi).
        expect(seen.open).toBe('0');
        expect(seen.verdicts).toEqual([
          // The queries above set one true positive; this file's report set the false positive.
          'unknown: 13',
          'true-positive: 1',
          'benign-positive: 0',
          'false-positive: 1',
        ]);
        expect(seen.regressions).toEqual([
          `RedMi 1S MIUI-V5-CN-stable ${B39} (2014-08-05): 15 alert(s), Xiaomi`,
        ]);
        // The timeline: the three builds, one incident opened in 39 and resolved (all of it) in 40.
        expect(seen.timelineBuilds).toEqual([B38, B39, B40]);
        expect(seen.incidents).toEqual([{ build: B39, organisation: 'Xiaomi', open: '0', resolvedMarks: 1 }]);
        // Build 40 against 39: the five data types no longer sent to the account host.
        expect(seen.diff).toEqual(Array(5).fill('no longer sent'));
        expect(seen.devices).toEqual(truth.runs.map((r) => [r.build, expect.any(String), String(r.flows)]));
        // The false positive is struck through, every cell of its row.
        expect(seen.struck.length).toBeGreaterThan(0);
        expect(seen.struck.every((d) => d.includes('line-through'))).toBe(true);
      } finally {
        await browser.close();
      }
    }, 60_000);

    it('prints to PDF through headless Chromium (leakwatch report --pdf)', async () => {
      if (!chromium)
        throw new Error(
          'no Chromium for the report PDF test: apt-get install chromium (as .ci/run does), or set LEAKWATCH_CHROMIUM',
        );
      const bytes = await readFile(pdf);
      expect(bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
      expect(bytes.length).toBeGreaterThan(10_000);
      // Landscape A4 pages (the print stylesheet's @page), more than one: a section per line.
      expect(bytes.toString('latin1')).toMatch(/\/MediaBox \[0 0 841\.\d+ 59[45]\.\d+\]/);
      await mkdir(join(projectRoot, 'test-artifacts'), { recursive: true });
      await copyFile(pdf, join(projectRoot, 'test-artifacts', 'report.pdf'));
    });

    it('--pdf without Chromium is a usage error that says what to install', async () => {
      const saved = process.env.LEAKWATCH_CHROMIUM;
      process.env.LEAKWATCH_CHROMIUM = join(dataDir, 'no-such-chromium');
      try {
        await expect(reportCommand({ dataDir, pdf: join(dataDir, 'x.pdf') }, captureIo().io)).rejects.toThrow(
          '--pdf needs Chromium: install it (apt-get install chromium) or set LEAKWATCH_CHROMIUM to a Chromium or Chrome binary',
        );
      } finally {
        if (saved === undefined) delete process.env.LEAKWATCH_CHROMIUM;
        else process.env.LEAKWATCH_CHROMIUM = saved;
      }
      expect(existsSync(join(dataDir, 'x.pdf'))).toBe(false);
    });
  });
});
