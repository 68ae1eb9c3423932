import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { FleetHistory } from '../../core/history/fleetHistory.ts';
import { alertIdOf, keys, lineKey } from '../../core/store/keys.ts';
import { ensureTable, LOCAL_NAMES, LocalTableError, startEmulators } from '../../local/emulators.ts';
import { benchArgs } from '../args.ts';

/**
 * Fleet-history query latency on the local store (dynalite, as `npm start` uses it), at fleet scale:
 * a simulated fleet of ≥ 50 models × ≥ 20 builds with ≥ 1,000,000 observations (and 10 alerts a
 * line, a third of them resolved), loaded once into
 * bench/out/history-store (reused by later runs; --reload makes it again, as does a store of an
 * older key layout), then each question asked
 * many times with random arguments. Prints p50/p99 per query. Goal (issue #6): p99 ≤ 100 ms.
 *
 *   npm run bench:history [-- --models 50 --builds 20 --observations 1000 --samples 200 --reload]
 *
 * The items are written as ingest writes them (same keys, attributes and index keys), in batches,
 * because pushing a million flows through ingest would take hours on dynalite and measure ingest.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = benchArgs('bench:history', {
  models: { type: 'string', default: '50' },
  builds: { type: 'string', default: '20' },
  observations: { type: 'string', default: '1000' },
  samples: { type: 'string', default: '200' },
  reload: { type: 'boolean', default: false },
});
const MODELS = Number(values.models);
const BUILDS = Number(values.builds);
const OBSERVATIONS = Number(values.observations);
const SAMPLES = Number(values.samples);
const dataDir = join(root, 'bench', 'out', 'history-store');
const marker = join(dataDir, `loaded-${MODELS}x${BUILDS}x${OBSERVATIONS}`);

const DATA_TYPES = [
  'imei',
  'imsi',
  'phone-number',
  'contact',
  'sms-content',
  'location',
  'android-id',
  'advertising-id',
  'wifi-mac',
  'carrier-name',
];
const ORGANISATIONS = [
  'Xiaomi',
  'Google',
  'Huawei',
  'Umeng',
  'Tencent',
  'Facebook',
  'Amazon',
  'Baidu',
  'AppsFlyer',
  'Adjust',
];
const COUNTRIES = ['CN', 'US', 'SG', 'DE', 'IN', 'NL', 'IE', 'JP'];
const TRANSPORTS = ['plaintext', 'tls', 'quic'];
const RULES = ['plaintext-begins', 'sent-without-consent', 'new-organisation', 'new-country'] as const;
const SEVERITIES = ['high', 'medium', 'low'] as const;
const ALERTS_PER_LINE = 10;
const builds = (a: number) => Math.floor((a * BUILDS) / ALERTS_PER_LINE);

// A small deterministic PRNG, so every load makes the same fleet.
let seed = 42;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;

const fleet = Array.from({ length: MODELS }, (_, m) => {
  const device = { vendor: `Vendor${m % 7}`, model: `Model ${m}` };
  const firmware = { line: `line-${m}` };
  return {
    ...device,
    lineName: firmware.line,
    line: lineKey(device, firmware),
    builds: Array.from({ length: BUILDS }, (_, b) => ({
      build: `B${m}.${b}`,
      builtAt: new Date(Date.UTC(2024, 0, 1 + b * 7)).toISOString(),
    })),
  };
});

function* items(): Generator<Record<string, unknown>> {
  for (const [m, line] of fleet.entries()) {
    const devices = [`dev-${m}-a`, `dev-${m}-b`];
    yield {
      ...keys.line(line.line),
      type: 'line',
      vendor: line.vendor,
      model: line.model,
      lineName: line.lineName,
      builds: new Set(line.builds.map((b) => b.build)),
      devices: new Set(devices),
      sessions: new Set(line.builds.map((b) => `s-${b.build}`)),
      lastSessionEnded: '2026-01-01T00:00:00.000Z',
    };
    // Alerts: ALERTS_PER_LINE a line, raised in its builds, the first of every three resolved later.
    for (let a = 0; a < ALERTS_PER_LINE; a++) {
      const build = line.builds[builds(a)]!;
      const organisation = pick(ORGANISATIONS);
      const alert = {
        rule: pick(RULES),
        // One subject per alert: an alert's key (rule, subject, data type) is unique in its line.
        subject: `a${a}.${organisation.toLowerCase()}.example`,
        dataType: pick(DATA_TYPES),
      };
      const alertId = alertIdOf(line.line, alert);
      const createdAt = new Date(Date.parse(build.builtAt) + a * 60_000).toISOString();
      const resolved = a % 3 === 0 ? line.builds[Math.min(BUILDS - 1, builds(a) + 1)] : undefined;
      yield {
        ...keys.alert(line.line, alert),
        type: 'alert',
        alertOrder: keys.alertOrder({ createdAt, alertId }),
        ...alert,
        alertId,
        lineKey: line.line,
        severity: pick(SEVERITIES),
        title: 'simulated',
        explanation: 'simulated',
        vendor: line.vendor,
        model: line.model,
        line: line.lineName,
        build: build.build,
        builtAt: build.builtAt,
        baselineBuilds: [],
        deviceId: `dev-${m}-a`,
        sessionId: `s-${build.build}`,
        host: `api.${alert.subject}`,
        registrableDomain: alert.subject,
        organisation,
        transport: 'plaintext',
        transportDetail: 'plaintext HTTP',
        where: ['form:x'],
        masked: '8646••••3454',
        canary: false,
        flowId: `flow-${m}-${a}`,
        firstSeen: createdAt,
        createdAt,
        seenInBuilds: new Set([build.build]),
        verification: 'unknown',
        ...(resolved
          ? {
              state: 'resolved',
              resolvedIn: resolved.build,
              resolvedInBuiltAt: resolved.builtAt,
              resolvedAt: createdAt,
            }
          : { state: 'open' }),
      };
      yield {
        ...keys.alertId(alertId),
        type: 'alert-id',
        lineKey: line.line,
        alertSk: keys.alert(line.line, alert).sk,
      };
    }
    for (const build of line.builds) {
      const common = {
        line: line.line,
        vendor: line.vendor,
        model: line.model,
        lineName: line.lineName,
        ...build,
      };
      yield {
        ...keys.build(line.line, build),
        type: 'build',
        ...common,
        flows: OBSERVATIONS * 3,
        devices: new Set(devices),
        sessions: new Set([`s-${build.build}`]),
        firstSeen: build.builtAt,
        lastSeen: build.builtAt,
      };
      for (const deviceId of devices)
        yield {
          ...keys.deviceRun(deviceId, build, `s-${build.build}`),
          type: 'device-run',
          deviceId,
          sessionId: `s-${build.build}`,
          ...common,
          flows: 100,
          dataTypes: new Set(DATA_TYPES.slice(0, 3)),
          plaintextDataTypes: new Set(DATA_TYPES.slice(0, 1)),
        };
      for (let o = 0; o < OBSERVATIONS; o++) {
        // Most observations carry no personal data (dataType "-"), as in real traffic.
        const dataType = o % 4 === 0 ? pick(DATA_TYPES) : '-';
        const organisation = pick(ORGANISATIONS);
        const host = `h${o}.${organisation.toLowerCase()}.example`;
        const observation = {
          registrableDomain: `${organisation.toLowerCase()}.example`,
          host,
          transport: pick(TRANSPORTS),
          dataType,
          organisation,
          country: pick(COUNTRIES),
        };
        yield {
          ...keys.observation(line.line, build.build, observation),
          type: 'observation',
          ...observation,
          category: 'vendor-cloud',
          transportDetail: 'TLS 1.3',
          ...common,
          flows: 1 + Math.floor(random() * 50),
          bytesToServer: 1000,
          bytesToClient: 5000,
          firstSeen: build.builtAt,
          lastSeen: build.builtAt,
          ...(dataType === '-'
            ? {}
            : {
                ...keys.sent(line.line, build, observation),
                where: new Set(['form:x']),
                sample: '8646••••3454',
              }),
        };
      }
    }
  }
}

const total = MODELS * (1 + 2 * ALERTS_PER_LINE + BUILDS * (1 + 2 + OBSERVATIONS));
/** Whether the store on disk was loaded with this fleet by this key layout. */
async function loaded(): Promise<boolean> {
  if (!existsSync(marker)) return false;
  const emulators = await startEmulators(dataDir);
  try {
    await ensureTable(emulators.dynamo, LOCAL_NAMES.table);
    return true;
  } catch (error) {
    if (!(error instanceof LocalTableError)) throw error;
    console.log(`reloading: ${error.message.split(':')[0]}`);
    return false;
  } finally {
    await emulators.close();
  }
}

if (values.reload || !(await loaded())) {
  await rm(dataDir, { recursive: true, force: true });
  const emulators = await startEmulators(dataDir);
  await ensureTable(emulators.dynamo, LOCAL_NAMES.table);
  const started = Date.now();
  let written = 0;
  let batch: Record<string, unknown>[] = [];
  const inFlight = new Set<Promise<void>>();
  const send = (chunk: Record<string, unknown>[]) => {
    const p = (async () => {
      let requests = chunk.map((Item) => ({ PutRequest: { Item } }));
      while (requests.length) {
        const result = await emulators.documents.send(
          new BatchWriteCommand({ RequestItems: { [LOCAL_NAMES.table]: requests } }),
        );
        requests = (result.UnprocessedItems?.[LOCAL_NAMES.table] ?? []) as typeof requests;
      }
      written += chunk.length;
      if (written % 50_000 < 25)
        process.stderr.write(
          `  loaded ${written.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} items\n`,
        );
    })().finally(() => inFlight.delete(p));
    inFlight.add(p);
    return p;
  };
  for (const item of items()) {
    batch.push(item);
    if (batch.length === 25) {
      send(batch);
      batch = [];
      if (inFlight.size >= 8) await Promise.race(inFlight);
    }
  }
  if (batch.length) send(batch);
  await Promise.all(inFlight);
  await emulators.close();
  await writeFile(marker, new Date().toISOString());
  console.log(
    `loaded ${written.toLocaleString('en-US')} items (${(MODELS * BUILDS * OBSERVATIONS).toLocaleString('en-US')} observations) in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
}

const emulators = await startEmulators(dataDir);
const history = new FleetHistory(emulators.documents, LOCAL_NAMES.table);
const randomLine = () => pick(fleet);
const queries: Record<string, () => Promise<unknown>> = {
  'lines (page of 100)': () => history.lines(),
  'builds of a line': () => history.builds(randomLine().line),
  'build report (personal data)': () => {
    const line = randomLine();
    return history.buildReport(line.line, pick(line.builds).build);
  },
  'build destinations (page of 100)': () => {
    const line = randomLine();
    return history.destinations(line.line, pick(line.builds).build);
  },
  'diff of two builds': () => {
    const line = randomLine();
    const i = Math.floor(random() * (BUILDS - 1));
    return history.diff(line.line, line.builds[i]!.build, line.builds[i + 1]!.build);
  },
  'device timeline': () => history.device(`dev-${Math.floor(random() * MODELS)}-a`),
  'sent to organisation (page of 100)': () =>
    history.sent({ dataType: pick(DATA_TYPES), organisation: pick(ORGANISATIONS) }),
  'sent to country (page of 100)': () =>
    history.sent({ dataType: pick(DATA_TYPES), country: pick(COUNTRIES) }),
  'open alerts (every line)': () => history.alerts({ state: 'open' }),
  "alerts of a model's line": () => history.alerts({ model: randomLine().model }),
};
console.log(
  `fleet: ${MODELS} models × ${BUILDS} builds × ${OBSERVATIONS} observations = ${(MODELS * BUILDS * OBSERVATIONS).toLocaleString('en-US')} observations (${total.toLocaleString('en-US')} items), local dynalite; ${SAMPLES} samples per query after 5 warm-up`,
);
console.log(`${'query'.padEnd(36)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)}`);
for (const [name, run] of Object.entries(queries)) {
  for (let i = 0; i < 5; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const started = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  console.log(
    `${name.padEnd(36)} ${at(0.5).toFixed(1).padStart(8)} ${at(0.99).toFixed(1).padStart(8)} ${times.at(-1)!.toFixed(1).padStart(8)}${at(0.99) > 100 ? '  over the 100 ms goal' : ''}`,
  );
}
await emulators.close();
console.log('goal (issue #6): every query p99 <= 100 ms locally');
