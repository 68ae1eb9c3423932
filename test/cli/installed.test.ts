import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { toBeValidSarifLog } from '@microsoft/jest-sarif';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { type CliResult, leakwatch } from '../helpers/installedCli.ts';
import { projectRoot } from '../helpers/scenario.ts';

expect.extend({ toBeValidSarifLog });
declare module 'expect' {
  interface Matchers<R> {
    toBeValidSarifLog(): R;
  }
}

/**
 * Every command and subcommand of the installed `leakwatch` (bin entry, bundle built at install) as
 * a subprocess, on a store made by a real `leakwatch run` of captures leakwatch did not write
 * itself (test/fixtures/lab-device: a Mi Box S, three builds, made with Scapy), asserting exit
 * codes and output. Paths are relative to the project, as a user in a clone types them.
 */
const F = 'test/fixtures/lab-device';
const BUILDS = ['MBS-9.0.2.1', 'MBS-9.0.3.0', 'MBS-9.0.4.0'] as const;
const LINE = 'PatchWall-9-intl';
const LEAKED = ['advertising-id', 'android-id', 'wifi-mac'];
const RULES = ['new-organisation', 'plaintext-begins', 'sent-without-consent'];

const ok = (result: CliResult) => {
  if (result.code !== 0)
    throw new Error(`exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return result;
};

describe('the installed leakwatch command', () => {
  let work: string;
  let store: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'leakwatch-installed-'));
    store = join(work, 'store');
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  describe('without a store', () => {
    it('--version and --help', async () => {
      const pkg = JSON.parse(await readFile(join(projectRoot, 'package.json'), 'utf8'));
      const version = ok(await leakwatch(['--version']));
      expect(version.stdout.trim()).toBe(pkg.version);
      expect(version.stderr).toBe('');
      const help = ok(await leakwatch(['--help']));
      for (const command of [
        'probe',
        'run',
        'serve',
        'check',
        'devices',
        'alerts',
        'builds',
        'build',
        'diff',
        'destinations',
        'device',
        'sent',
        'report',
        'verify',
        'archive',
      ])
        expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
      const unknown = await leakwatch(['frobnicate']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    });

    it('every command has --help with its exit codes or an example', async () => {
      for (const command of [
        ['run'],
        ['serve'],
        ['check'],
        ['probe'],
        ['devices', 'register'],
        ['alerts', 'verify'],
        ['build'],
        ['diff'],
        ['archive', 'query'],
      ]) {
        const help = ok(await leakwatch([...command, '--help']));
        expect(help.stdout).toContain(`Usage: leakwatch ${command.join(' ')}`);
        expect(help.stdout).toMatch(/Example|Exit codes/);
      }
    });

    it('prints no AWS SDK notice (the Lambda runs Node 24; the CLI user need not know)', async () => {
      const result = ok(
        await leakwatch(['probe', '--lab-config', `${F}/lab/build-2.json`, `${F}/mibox-build-2.pcap.gz`]),
      );
      expect(result.stderr).not.toMatch(/NodeVersionSupportWarning|AWS SDK for JavaScript/);
    });

    it('history commands on a data directory that holds no store say so and exit 2, creating nothing', async () => {
      const missing = join(work, 'no-such-dir');
      for (const args of [
        ['alerts'],
        ['builds'],
        ['build', 'X', '--line', LINE],
        ['report', '--out', join(work, 'r.html')],
        ['devices', 'list'],
        ['archive', 'query', 'data-by-build', '--param', 'model=x', '--param', 'since=2020-01-01'],
      ]) {
        const result = await leakwatch([...args, '--data-dir', missing]);
        expect({ args, code: result.code }).toEqual({ args, code: 2 });
        expect(result.stderr).toContain(`no leakwatch data directory at ${missing} (--data-dir)`);
      }
      await expect(stat(missing)).rejects.toThrow(/ENOENT/);
      const empty = join(work, 'empty');
      await mkdir(empty);
      const result = await leakwatch(['alerts'], { env: { LEAKWATCH_DATA_DIR: empty } });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(
        `${empty} ($LEAKWATCH_DATA_DIR) holds no leakwatch store (no dynamodb/ in it)`,
      );
    });
  });

  describe('probe', () => {
    it('decodes pcapng, gzip pcap and HAR to NDJSON', async () => {
      const result = ok(
        await leakwatch([
          'probe',
          '--lab-config',
          `${F}/lab/build-1.json`,
          `${F}/mibox-build-1.pcapng`,
          `${F}/mibox-build-1-app.har`,
        ]),
      );
      const records = result.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(records.filter((r) => r.kind !== 'session-end')).toHaveLength(5);
      expect(records.at(-1)).toMatchObject({ kind: 'session-end', flows: 5 });
      expect(result.stderr).toContain(`${F}/mibox-build-1.pcapng: pcapng, 20 packets, 4 flows`);
      expect(result.stderr).toContain(`${F}/mibox-build-1-app.har: HAR, 1 entries, 1 flow records`);
      const upload = ok(
        await leakwatch(['probe', '--lab-config', `${F}/lab/build-2.json`, `${F}/mibox-build-2.pcap.gz`]),
      );
      const post = upload.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line))
        .find((r) => r.http?.[0]?.method === 'POST');
      expect(post.names.httpHost).toBe('data.mistat.xiaomi.com');
      expect(post.candidates.map((c: { key: string }) => c.key)).toEqual(
        expect.arrayContaining(['mac', 'android_id', 'gaid']),
      );
    });

    it('a missing region is a setup error before any record is read (exit 2, at once)', async () => {
      const started = Date.now();
      const result = await leakwatch(
        [
          'probe',
          '--lab-config',
          `${F}/lab/build-2.json`,
          '--kinesis-stream',
          'flows',
          `${F}/mibox-build-2.pcap.gz`,
        ],
        {
          env: { HOME: work },
        },
      );
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(
        'no AWS region configured: give --aws-region REGION, or set AWS_REGION',
      );
      expect(result.stdout).toBe('');
      expect(Date.now() - started).toBeLessThan(8000);
      const creds = await leakwatch(
        [
          'probe',
          '--lab-config',
          `${F}/lab/build-2.json`,
          '--kinesis-stream',
          'flows',
          '--aws-region',
          'eu-west-1',
          `${F}/mibox-build-2.pcap.gz`,
        ],
        {
          env: { HOME: work, AWS_EC2_METADATA_DISABLED: 'true' },
        },
      );
      expect(creds.code).toBe(2);
      expect(creds.stderr).toContain('no AWS credentials found');
    });

    it('bad flags and captures: exit 2 and 3 with what and where', async () => {
      const flag = await leakwatch([
        'probe',
        '--lab-config',
        `${F}/lab/build-2.json`,
        '--listen',
        'http://x',
        `${F}/mibox-build-2.pcap.gz`,
      ]);
      expect(flag.code).toBe(2);
      const missing = await leakwatch(['probe', '--lab-config', `${F}/lab/build-2.json`, `${F}/nope.pcap`]);
      expect(missing.code).toBe(3);
      expect(missing.stderr).toContain(`cannot read capture ${F}/nope.pcap: no such file`);
    });
  });

  describe('lab configs, registrations and identifiers are checked strictly', () => {
    const writeJson = async (name: string, value: unknown) => {
      const path = join(work, name);
      await writeFile(path, JSON.stringify(value));
      return path;
    };
    const labConfig = async () =>
      JSON.parse(await readFile(join(projectRoot, F, 'lab', 'build-2.json'), 'utf8'));

    it('a mistyped key is refused with the key it should be (exit 2), by probe, run and check', async () => {
      const config = await labConfig();
      config.session.consentProfle = config.session.consentProfile;
      delete config.session.consentProfile;
      const path = await writeJson('typo.json', config);
      for (const command of ['probe', 'run', 'check']) {
        const result = await leakwatch(
          [
            command,
            '--data-dir',
            join(work, 'unused'),
            '--lab-config',
            path,
            `${F}/mibox-build-2.pcap.gz`,
          ].filter((_a, i) => command !== 'probe' || (i !== 1 && i !== 2)),
        );
        expect({ command, code: result.code }).toEqual({ command, code: 2 });
        expect(result.stderr).toContain(
          'session: unknown key "consentProfle" (did you mean "consentProfile"?); known keys here: id, consent, consentProfile',
        );
        expect(result.stdout).toBe('');
      }
      await expect(stat(join(work, 'unused'))).rejects.toThrow(/ENOENT/);
    });

    it('an unknown consent service is named with the known ones', async () => {
      const config = await labConfig();
      config.session.consent = { 'xiaomi.analytcs': 'denied' };
      const result = await leakwatch([
        'probe',
        '--lab-config',
        await writeJson('service.json', config),
        `${F}/mibox-build-2.pcap.gz`,
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(
        'session.consent: unknown consent service "xiaomi.analytcs" (did you mean "xiaomi.analytics"?)',
      );
      expect(result.stderr).toContain(
        'known services (from the catalog and the consent profiles): xiaomi.account, xiaomi.ads, xiaomi.analytics',
      );
    });

    it('registration files and devices register check IMEI, IMSI, E.164 and MAC', async () => {
      const reg = await writeJson('reg.json', {
        deviceId: 'lab-x',
        values: [
          { dataType: 'imei', value: '864690020123455' },
          { dataType: 'wifi-mac', value: '64:09:80:a1:b2' },
          { dataType: 'phone-number', value: '+86 138 0013 8000' },
        ],
        extra: true,
      });
      const run = await leakwatch([
        'run',
        '--data-dir',
        join(work, 'unused'),
        '--register',
        reg,
        '--lab-config',
        `${F}/lab/build-2.json`,
        `${F}/mibox-build-2.pcap.gz`,
      ]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`registration ${reg} is invalid:`);
      expect(run.stderr).toContain('(top level): unknown key "extra"');
      expect(run.stderr).toContain(
        'values[0].value: the imei is not an IMEI: its last digit is not the Luhn check digit',
      );
      expect(run.stderr).toContain('values[1].value: the wifi-mac is not a MAC address');
      expect(run.stderr).not.toContain('values[2]');
      const devices = join(work, 'devices');
      for (const [flag, value, message] of [
        ['--imei', '12345', '--imei is not an IMEI: 15 digits'],
        ['--imsi', '000001234567890', '--imsi is not an IMSI: 000 is not a mobile country code in use'],
        ['--phone', '13800138000', '--phone is not an E.164 number: write it with + and the country code'],
        ['--wifi-mac', 'zz:11:22:33:44:55', '--wifi-mac is not a MAC address'],
      ] as const) {
        const result = await leakwatch([
          'devices',
          'register',
          '--data-dir',
          devices,
          '--device-id',
          'lab-x',
          flag,
          value,
        ]);
        expect({ flag, code: result.code }).toEqual({ flag, code: 2 });
        expect(result.stderr).toContain(message);
        expect(result.stderr).not.toContain(value);
      }
      const good = ok(
        await leakwatch([
          'devices',
          'register',
          '--data-dir',
          devices,
          '--device-id',
          'lab-x',
          '--imei',
          '864690020123454',
          '--imsi',
          '460001234567890',
          '--phone',
          '+86 138 0013 8000',
          '--wifi-mac',
          '64-09-80-A1-B2-C3',
        ]),
      );
      expect(good.stderr).toContain('lab-x: 4 values registered as digests');
      const list = ok(await leakwatch(['devices', 'list', '--data-dir', devices, '--json']));
      expect(JSON.parse(list.stdout)).toEqual([
        expect.objectContaining({
          device: 'lab-x',
          counts: { imei: 1, imsi: 1, 'phone-number': 1, 'wifi-mac': 1 },
        }),
      ]);
      expect(await readFile(join(devices, 'registry.json'), 'utf8')).not.toContain('864690020123454');
    });

    it('run: a capture before any --lab-config, a missing capture, a damaged capture', async () => {
      const order = await leakwatch([
        'run',
        '--data-dir',
        join(work, 'unused'),
        `${F}/mibox-build-2.pcap.gz`,
        '--lab-config',
        `${F}/lab/build-2.json`,
      ]);
      expect(order.code).toBe(2);
      expect(order.stderr).toContain(`capture ${F}/mibox-build-2.pcap.gz comes before any --lab-config`);
      const missing = await leakwatch([
        'run',
        '--data-dir',
        join(work, 'unused'),
        '--lab-config',
        `${F}/lab/build-2.json`,
        `${F}/nope.pcap`,
      ]);
      expect(missing.code).toBe(3);
      await expect(stat(join(work, 'unused'))).rejects.toThrow(/ENOENT/);
      // A pcapng whose 20th block has an impossible length: what was read before it is counted,
      // the session is not ended.
      const bytes = Buffer.from(await readFile(join(projectRoot, F, 'mibox-build-3.pcapng')));
      let offset = 0;
      for (let block = 0; block < 20; block++) offset += bytes.readUInt32LE(offset + 4);
      bytes.writeUInt32LE(13, offset + 4);
      const damaged = join(work, 'damaged.pcapng');
      await writeFile(damaged, bytes);
      const result = await leakwatch([
        'run',
        '--data-dir',
        join(work, 'damaged'),
        '--lab-config',
        `${F}/lab/build-3.json`,
        damaged,
      ]);
      expect(result.code).toBe(3);
      expect(result.stdout).toContain(
        'is not ended: flows read before this are counted, no alert is resolved from it',
      );
      expect(result.stdout).toContain(
        `capture not read to the end: damaged.pcapng: corrupt pcapng block at byte ${offset}: block type 0x6 has total length 13`,
      );
      // The flows before the damage are in the history (the device's run of the build counts them).
      const device = ok(
        await leakwatch(['device', 'lab-mibox-03', '--data-dir', join(work, 'damaged'), '--json']),
      );
      expect(JSON.stringify(JSON.parse(device.stdout))).toMatch(/"build":"MBS-9\.0\.4\.0".*"flows":[1-9]/);
    });
  });

  describe('on a store made by leakwatch run', () => {
    let run: CliResult;
    let alertIds: string[];

    beforeAll(async () => {
      run = await leakwatch([
        'run',
        '--data-dir',
        store,
        '--register',
        `${F}/lab/registration.json`,
        // Builds given out of order: they are compared by build date.
        '--lab-config',
        `${F}/lab/build-1.json`,
        `${F}/mibox-build-1.pcapng`,
        `${F}/mibox-build-1-app.har`,
        '--lab-config',
        `${F}/lab/build-3.json`,
        `${F}/mibox-build-3.pcapng`,
        '--lab-config',
        `${F}/lab/build-2.json`,
        `${F}/mibox-build-2.pcap.gz`,
      ]);
    }, 60_000);

    it('run: exit 0, the probe lines, the alerts and the per-build summary', () => {
      ok(run);
      expect(run.stdout).toContain(
        `probe ${F}/mibox-build-2.pcap.gz: pcap (gzip), 32 packets, 6 flows (build MBS-9.0.3.0)`,
      );
      // One message for the incident (9 alerts: 3 data types × 3 rules), its headline once.
      const headline =
        'Mi Box S MBS-9.0.3.0 sends Wi-Fi MAC address, Android ID, advertising ID to Xiaomi (in plaintext, without opt-in, to a new organisation)';
      expect(run.stdout).toContain(
        `\n  ALERT HIGH ${headline}\n    Device:      Xiaomi Mi Box S (lab-mibox-03)\n`,
      );
      expect(run.stdout.split(headline)).toHaveLength(2);
      // The form was URL-encoded inside a gzip'd, chunked body: the chain names all three.
      expect(run.stdout).toContain(
        '      Where:     form:mac\n      Encoded:   chunked → gzip → url-encoding\n',
      );
      expect(run.stdout).toContain(
        '  RESOLVED Resolved in MBS-9.0.4.0: Mi Box S no longer sends Wi-Fi MAC address, Android ID, advertising ID to Xiaomi as before',
      );
      expect(run.stdout).toContain('Xiaomi Mi Box S, firmware line PatchWall-9-intl');
      expect(run.stdout).toContain(
        'advertising-id → data.mistat.xiaomi.com [plaintext], android-id → data.mistat.xiaomi.com [plaintext], wifi-mac → data.mistat.xiaomi.com [plaintext]',
      );
      expect(run.stdout).toContain('9 alert(s) in the history of this line, 0 open.');
      expect(run.stdout).toContain(
        'notifications to console and outbox (SNS stand-in): 2 delivered this run',
      );
      // Raw identifiers never reach the output, the outbox or the store's files.
      expect(run.stdout).not.toContain('3a9f4e2c7d1b8e05');
      expect(run.stdout).not.toContain('7d3c9a2e-51f4');
    });

    it('builds, build, destinations, diff, device, sent', async () => {
      const builds = ok(await leakwatch(['builds', '--data-dir', store]));
      expect(builds.stdout).toContain('Xiaomi\tMi Box S\tPatchWall-9-intl\t3\t1\t3');
      const line = ok(await leakwatch(['builds', '--data-dir', store, '--line', LINE, '--json']));
      expect(JSON.parse(line.stdout).items.map((b: { build: string }) => b.build)).toEqual(
        [...BUILDS].reverse(),
      );
      const build = ok(await leakwatch(['build', BUILDS[1], '--line', LINE, '--data-dir', store, '--json']));
      const sent = JSON.parse(build.stdout);
      expect(JSON.stringify(sent)).toContain('data.mistat.xiaomi.com');
      for (const type of LEAKED) expect(JSON.stringify(sent)).toContain(type);
      const destinations = ok(
        await leakwatch(['destinations', BUILDS[0], '--line', LINE, '--data-dir', store]),
      );
      expect(destinations.stdout).toContain('connectivitycheck.gstatic.com');
      expect(destinations.stdout).toContain('api.mitv.example.org');
      const diff = ok(await leakwatch(['diff', BUILDS[1], BUILDS[2], '--line', LINE, '--data-dir', store]));
      for (const type of LEAKED) expect(diff.stdout).toContain(type);
      expect(diff.stdout).toMatch(/disappeared|now encrypted/);
      const device = ok(await leakwatch(['device', 'lab-mibox-03', '--data-dir', store]));
      for (const b of BUILDS) expect(device.stdout).toContain(b);
      const which = ok(
        await leakwatch(['sent', '--data-type', 'wifi-mac', '--organisation', 'Xiaomi', '--data-dir', store]),
      );
      expect(which.stdout).toContain(BUILDS[1]);
      expect(which.stdout).not.toContain(BUILDS[2]);
      const nothing = await leakwatch(['build', 'NOPE', '--line', LINE, '--data-dir', store]);
      expect(nothing.code).toBe(1);
      const bad = await leakwatch(['sent', '--data-type', 'imei', '--data-dir', store]);
      expect(bad.code).toBe(2);
    });

    it('alerts, alerts verify, verify', async () => {
      const list = ok(await leakwatch(['alerts', '--data-dir', store, '--json']));
      const alerts = JSON.parse(list.stdout) as {
        alertId: string;
        rule: string;
        dataType: string;
        state: string;
        resolvedIn?: string;
        build: string;
      }[];
      expect(alerts.map((a) => `${a.rule}/${a.dataType}`).sort()).toEqual(
        RULES.flatMap((r) => LEAKED.map((t) => `${r}/${t}`)).sort(),
      );
      expect(new Set(alerts.map((a) => `${a.state} ${a.build} ${a.resolvedIn}`))).toEqual(
        new Set([`resolved ${BUILDS[1]} ${BUILDS[2]}`]),
      );
      alertIds = alerts.map((a) => a.alertId);
      const open = ok(await leakwatch(['alerts', '--state', 'open', '--data-dir', store]));
      expect(open.stdout.trim().split('\n')).toHaveLength(1); // the header only
      const verify = ok(
        await leakwatch([
          'alerts',
          'verify',
          alertIds[0]!,
          '--as',
          'benign-positive',
          '--note',
          'documented',
          '--data-dir',
          store,
        ]),
      );
      expect(verify.stdout).toContain(`${alertIds[0]}: benign-positive (suppressed`);
      const alias = ok(
        await leakwatch(['verify', alertIds[1]!, '--as', 'true-positive', '--data-dir', store]),
      );
      expect(alias.stdout).toContain(`${alertIds[1]}: true-positive`);
      const unknown = await leakwatch([
        'alerts',
        'verify',
        'A000000000000',
        '--as',
        'true-positive',
        '--data-dir',
        store,
      ]);
      expect(unknown.code).toBe(1);
      const badVerdict = await leakwatch(['verify', alertIds[0]!, '--as', 'maybe', '--data-dir', store]);
      expect(badVerdict.code).toBe(2);
      expect(badVerdict.stderr).toContain('--as "maybe" is not one of');
    });

    it('report', async () => {
      const out = join(work, 'report.html');
      const pdf = join(work, 'report.pdf');
      const result = ok(await leakwatch(['report', '--out', out, '--pdf', pdf, '--data-dir', store]));
      expect(result.stdout).toContain(
        `${pdf}: 1 firmware line(s), 3 build(s), 9 alert(s) (PDF, printed by headless Chromium)`,
      );
      const html = await readFile(out, 'utf8');
      expect(html).toMatch(/^<!doctype html>/);
      expect(html).toContain('Xiaomi Mi Box S · PatchWall-9-intl');
      expect(html).toContain(
        '<g class="incident" data-build="MBS-9.0.3.0" data-organisation="Xiaomi" data-open="0">',
      );
      expect(html).not.toContain('3a9f4e2c7d1b8e05');
      expect((await readFile(pdf)).subarray(0, 5).toString('latin1')).toBe('%PDF-');
      const none = await leakwatch(['report', '--data-dir', store]);
      expect(none.code).toBe(2);
      expect(none.stderr).toContain('--out or --pdf is required');
    });

    it('archive queries and archive query', async () => {
      const queries = ok(await leakwatch(['archive', 'queries', '--data-dir', store]));
      expect(queries.stdout).toContain('data-by-build');
      const rows = ok(
        await leakwatch([
          'archive',
          'query',
          'data-by-build',
          '--param',
          'model=Mi Box S',
          '--param',
          'since=2020-01-01',
          '--json',
          '--data-dir',
          store,
        ]),
      );
      const table = JSON.parse(rows.stdout) as { build: string; data_type: string }[];
      expect(new Set(table.filter((r) => r.build === BUILDS[1]).map((r) => r.data_type))).toEqual(
        new Set(LEAKED),
      );
      const bad = await leakwatch(['archive', 'query', 'nope', '--data-dir', store]);
      expect(bad.code).toBe(2);
    });

    it('a second run of the same captures counts nothing twice and notifies nothing', async () => {
      const again = ok(
        await leakwatch([
          'run',
          '--data-dir',
          store,
          '--lab-config',
          `${F}/lab/build-2.json`,
          `${F}/mibox-build-2.pcap.gz`,
        ]),
      );
      expect(again.stdout).toContain('metrics: FlowsRepeated 6');
      expect(again.stdout).toContain(
        'notifications to console and outbox (SNS stand-in): 0 delivered this run',
      );
      const outbox = (await readFile(join(store, 'alerts-outbox.jsonl'), 'utf8')).trim().split('\n');
      expect(outbox).toHaveLength(2);
      expect(new Set(outbox.map((line) => JSON.parse(line).notificationId)).size).toBe(2);
      expect(outbox.flatMap((line) => JSON.parse(line).events)).toHaveLength(18);
    });
  });

  describe('check (the firmware CI gate)', () => {
    let gate: string;
    beforeAll(async () => {
      gate = join(work, 'gate');
      ok(
        await leakwatch([
          'run',
          '--data-dir',
          gate,
          '--register',
          `${F}/lab/registration.json`,
          '--lab-config',
          `${F}/lab/build-1.json`,
          `${F}/mibox-build-1.pcapng`,
        ]),
      );
    });

    it('exits 1 for the build that begins leaking, with a valid JUnit and SARIF file', async () => {
      const junit = join(work, 'reports', 'leakwatch.xml');
      const sarif = join(work, 'reports', 'leakwatch.sarif');
      const result = await leakwatch([
        'check',
        '--data-dir',
        gate,
        '--lab-config',
        `${F}/lab/build-2.json`,
        `${F}/mibox-build-2.pcap.gz`,
        '--junit',
        junit,
        '--sarif',
        sarif,
      ]);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain(
        `leakwatch check: Xiaomi Mi Box S, line ${LINE}, build ${BUILDS[1]} against ${BUILDS[0]}`,
      );
      expect(result.stdout).toContain(
        'FAIL plaintext-begins (high): Wi-Fi MAC address → data.mistat.xiaomi.com [plaintext HTTP] at form:mac',
      );
      expect(result.stdout).toContain(
        '9 regression(s), 0 suppressed by verdict, 0 as in the baseline, 6 passed (15 checks: rule × data type × destination)',
      );
      expect(result.stdout).toContain(`FAILED: build ${BUILDS[1]} begins doing what the rules above flag`);

      const xml = await readFile(junit, 'utf8');
      expect(XMLValidator.validate(xml)).toBe(true);
      const parsed = new XMLParser({ ignoreAttributes: false, isArray: (name) => name === 'testcase' }).parse(
        xml,
      );
      const suite = parsed.testsuites.testsuite;
      expect(suite['@_tests']).toBe('16');
      expect(suite['@_failures']).toBe('9');
      const failed = suite.testcase.filter((c: Record<string, unknown>) => c.failure);
      expect(failed.map((c: Record<string, string>) => `${c['@_classname']} ${c['@_name']}`).sort()).toEqual(
        RULES.flatMap((rule) =>
          ['advertising ID', 'Android ID', 'Wi-Fi MAC address'].map(
            (label) => `leakwatch.${rule} ${label} → data.mistat.xiaomi.com`,
          ),
        ).sort(),
      );

      const log = JSON.parse(await readFile(sarif, 'utf8'));
      expect(log).toBeValidSarifLog();
      expect(log.runs[0].results).toHaveLength(9);
      expect(log.runs[0].results[0]).toMatchObject({
        level: expect.stringMatching(/error|warning/),
        locations: [
          expect.objectContaining({
            physicalLocation: { artifactLocation: { uri: `${F}/mibox-build-2.pcap.gz`, index: 0 } },
          }),
        ],
      });
      // The schema check can fail: a result without its message is refused.
      delete log.runs[0].results[0].message;
      expect(() => expect(log).toBeValidSarifLog()).toThrow();
    });

    it('exits 0 for the fixed build, and 2 for a baseline that is not in the store', async () => {
      const junit = join(work, 'reports', 'fixed.xml');
      const fixed = await leakwatch([
        'check',
        '--data-dir',
        gate,
        '--lab-config',
        `${F}/lab/build-3.json`,
        `${F}/mibox-build-3.pcapng`,
        '--junit',
        junit,
      ]);
      expect(fixed.code).toBe(0);
      expect(fixed.stdout).toContain(`PASSED: build ${BUILDS[2]} raises nothing new`);
      expect(XMLValidator.validate(await readFile(junit, 'utf8'))).toBe(true);
      const against = await leakwatch([
        'check',
        '--data-dir',
        gate,
        '--lab-config',
        `${F}/lab/build-3.json`,
        `${F}/mibox-build-3.pcapng`,
        '--baseline',
        'MBS-0.0.0',
      ]);
      expect(against.code).toBe(2);
      expect(against.stderr).toContain(
        `--baseline MBS-0.0.0 is not a build of line ${LINE} in this store (builds: ${BUILDS[0]}, ${BUILDS[1]})`,
      );
      // Against build 1 (the last release) the leaking build still fails: a pinned baseline.
      const pinned = await leakwatch([
        'check',
        '--data-dir',
        gate,
        '--lab-config',
        `${F}/lab/build-2.json`,
        `${F}/mibox-build-2.pcap.gz`,
        '--baseline',
        BUILDS[0],
      ]);
      expect(pinned.code).toBe(1);
      const two = await leakwatch([
        'check',
        '--data-dir',
        gate,
        '--lab-config',
        `${F}/lab/build-2.json`,
        `${F}/mibox-build-2.pcap.gz`,
        '--lab-config',
        `${F}/lab/build-3.json`,
        `${F}/mibox-build-3.pcapng`,
      ]);
      expect(two.code).toBe(2);
    });
  });

  it('AWS commands without a region are setup errors (exit 2) before anything else', async () => {
    const env = { HOME: work, AWS_EC2_METADATA_DISABLED: 'true' };
    for (const args of [
      ['alerts', '--stack', 'Leakwatch'],
      ['builds', '--stack', 'Leakwatch'],
      ['archive', 'queries', '--stack', 'Leakwatch'],
      ['devices', 'register', '--stack', 'Leakwatch', '--device-id', 'd', '--imei', '864690020123454'],
    ]) {
      const result = await leakwatch(args, { env });
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toContain('no AWS region configured');
    }
  });

  it('Slack unreachable: one line per channel with the cause once, exit 75; the next run delivers what is pending, once', async () => {
    const dataDir = join(work, 'slack');
    // A port nothing listens on: connection refused.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const webhook = `http://127.0.0.1:${port}/services/T000/B000/XXXX`;
    const down = await leakwatch(['run', '--manifest', 'scenario/manifest.json', '--data-dir', dataDir], {
      env: { LEAKWATCH_SLACK_WEBHOOK: webhook },
    });
    expect(down.code).toBe(75);
    const cause = `Slack webhook unreachable: connect ECONNREFUSED 127.0.0.1:${port}`;
    expect(down.stdout).toContain(
      `notifications to slack: 0 delivered this run, 2 pending; 8 failed attempts: ${cause} (8×)`,
    );
    expect(down.stdout).toContain('notifications to console and outbox (SNS stand-in): 2 delivered this run');
    expect(down.stdout.split(cause).length - 1).toBe(1); // once, in the summary
    expect(`${down.stdout}${down.stderr}`).not.toContain('fetch failed');
    expect(`${down.stdout}${down.stderr}`).not.toContain('/services/T000'); // the webhook URL is a secret

    const received: string[] = [];
    const slack = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        received.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => slack.listen(port, '127.0.0.1', resolve));
    try {
      const up = ok(
        await leakwatch(['run', '--manifest', 'scenario/manifest.json', '--data-dir', dataDir], {
          env: { LEAKWATCH_SLACK_WEBHOOK: webhook },
        }),
      );
      expect(up.stdout).toContain('notifications to slack: 2 delivered this run');
      expect(up.stdout).toContain('notifications to console and outbox (SNS stand-in): 0 delivered this run');
      expect(received).toHaveLength(2);
      expect((await readFile(join(dataDir, 'alerts-outbox.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(
        2,
      );
    } finally {
      await new Promise((resolve) => slack.close(resolve));
    }
  });

  it('as a Slack app: one message per incident, the resolution in its thread; a half-set app is a usage error', async () => {
    const dataDir = join(work, 'slack-app');
    const posts: { authorization: string | undefined; body: Record<string, unknown> }[] = [];
    const api = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        posts.push({ authorization: req.headers.authorization, body: JSON.parse(body) });
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ ok: true, ts: `1700000000.00000${posts.length}` }));
      });
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(api.address() as AddressInfo).port}/api/chat.postMessage`;
    try {
      const half = await leakwatch(['run', '--manifest', 'scenario/manifest.json', '--data-dir', dataDir], {
        env: { LEAKWATCH_SLACK_TOKEN: 'xoxb-local-test' },
      });
      expect(half.code).toBe(2);
      expect(half.stderr).toContain(
        'leakwatch run: LEAKWATCH_SLACK_CHANNEL is not set: a Slack app needs both LEAKWATCH_SLACK_TOKEN (xoxb-…) and LEAKWATCH_SLACK_CHANNEL (C0123ABCD)',
      );
      expect(`${half.stdout}${half.stderr}`).not.toContain('xoxb-local-test');

      const run = ok(
        await leakwatch(['run', '--manifest', 'scenario/manifest.json', '--data-dir', dataDir], {
          env: {
            LEAKWATCH_SLACK_TOKEN: 'xoxb-local-test',
            LEAKWATCH_SLACK_CHANNEL: 'C0123ABCD',
            LEAKWATCH_SLACK_API: url,
          },
        }),
      );
      expect(run.stdout).toContain('notifications to slack: 2 delivered this run');
      expect(posts.map((p) => [p.authorization, p.body.channel, p.body.thread_ts])).toEqual([
        ['Bearer xoxb-local-test', 'C0123ABCD', undefined],
        ['Bearer xoxb-local-test', 'C0123ABCD', '1700000000.000001'],
      ]);
      expect(String(posts[0]!.body.text)).toContain(
        'RedMi 1S KHHCNBH39.0 sends IMEI, SMS text, contact details +2 more to Xiaomi',
      );
      expect(String(posts[1]!.body.text)).toContain('Resolved in KHHCNBH40.0');
      expect(JSON.stringify(posts)).not.toContain('864690020123454');
    } finally {
      await new Promise((resolve) => api.close(resolve));
    }
  });

  it('a fix tested with consent granted leaves the consent alerts open, and alerts says what test resolves them', async () => {
    const dataDir = join(work, 'consent');
    // Build 3 tested logged in, cloud messaging granted: it can show the plaintext fix, not the consent one.
    const granted = JSON.parse(await readFile(join(projectRoot, 'scenario', 'lab', 'build-3.json'), 'utf8'));
    granted.session = { id: 'redmi1s-b40-account', consentProfile: 'vendor-account', consent: {} };
    const labConfig = join(work, 'build-3-account.json');
    await writeFile(labConfig, JSON.stringify(granted));
    const run = ok(
      await leakwatch([
        'run',
        '--data-dir',
        dataDir,
        '--register',
        'scenario/lab/registration.json',
        '--lab-config',
        'scenario/lab/build-1.json',
        'scenario/captures/build-1.pcap',
        '--lab-config',
        'scenario/lab/build-2.json',
        'scenario/captures/build-2.pcap',
        '--lab-config',
        labConfig,
        'scenario/captures/build-3.pcap',
      ]),
    );
    expect(run.stdout).toContain('15 alert(s) in the history of this line, 5 open.');
    expect(run.stdout).toContain(
      'Open sent-without-consent alerts of xiaomi.cloud-messaging resolve only from a later build tested in a session with consent "xiaomi.cloud-messaging": "denied" (consent profile "out-of-box").',
    );

    const open = ok(await leakwatch(['alerts', '--state', 'open', '--data-dir', dataDir]));
    const rows = open.stdout.split('\n').filter((line) => /^A[0-9a-f]{11}/.test(line));
    expect(rows).toHaveLength(5);
    expect(
      rows.every(
        (row) =>
          row.includes('sent-without-consent') &&
          row.endsWith('a session with xiaomi.cloud-messaging denied'),
      ),
    ).toBe(true);
    expect(open.stdout).toContain(
      'Open sent-without-consent alerts of xiaomi.cloud-messaging resolve only from a later build tested in a session with consent "xiaomi.cloud-messaging": "denied" (consent profile "out-of-box") that no longer sends their data; a session with the service granted cannot show the fix.',
    );
    const json = JSON.parse(
      ok(await leakwatch(['alerts', '--state', 'open', '--json', '--data-dir', dataDir])).stdout,
    );
    expect(json.find((a: { dataType: string }) => a.dataType === 'imei').toResolve).toBe(
      'test a later build of MIUI-V5-CN-stable in a session with consent "xiaomi.cloud-messaging": "denied" (consent profile "out-of-box"); it resolves if that build no longer sends IMEI to xiaomi.com. A session with xiaomi.cloud-messaging granted cannot show the fix',
    );
    // The opening notification said so too.
    const outbox = (await readFile(join(dataDir, 'alerts-outbox.jsonl'), 'utf8')).trim().split('\n');
    expect(JSON.parse(outbox[0]!).message).toContain(
      'To resolve the sent-without-consent alerts of xiaomi.cloud-messaging: test a later build in a session with consent "xiaomi.cloud-messaging": "denied" (consent profile "out-of-box"); a session with the service granted cannot show the fix.',
    );
  });

  it('evidence names every host of an alert with counts, and the whole decoding chain (a Scapy-made capture)', async () => {
    const dataDir = join(work, 'evidence');
    const run = ok(
      await leakwatch([
        'run',
        '--data-dir',
        dataDir,
        '--register',
        `${F}/lab/note-registration.json`,
        '--lab-config',
        `${F}/lab/note-evidence.json`,
        `${F}/note-evidence.pcapng`,
      ]),
    );
    // One incident for Xiaomi: the IMSI went to two hosts of xiaomi.net (one named only by DNS, over
    // HTTP/1.0 without a Host header), the IMEI base64 in JSON in a gzip'd, chunked body.
    expect(run.stdout).toContain('ALERT HIGH Redmi Note 3 8.1.1.0 sends IMEI, IMSI to Xiaomi (in plaintext)');
    expect(run.stdout).toContain('    To:          Xiaomi: api.chat.xiaomi.net, resolver.msg.xiaomi.net\n');
    expect(run.stdout).toContain(
      '      Hosts:     api.chat.xiaomi.net (plaintext HTTP; 203.0.113.91): 2 flows, resolver.msg.xiaomi.net (plaintext HTTP; 203.0.113.90): 1 flow\n',
    );
    expect(run.stdout).toContain(
      '      Where:     json:$.d\n      Encoded:   chunked → gzip → json → base64\n',
    );
    const outbox = (await readFile(join(dataDir, 'alerts-outbox.jsonl'), 'utf8')).trim().split('\n');
    expect(outbox).toHaveLength(1);
    const message = JSON.parse(outbox[0]!);
    expect(message.events).toHaveLength(2);
    expect(message.message).toContain('resolver.msg.xiaomi.net (plaintext HTTP; 203.0.113.90): 1 flow');
    expect(message.alerts.find((a: { dataType: string }) => a.dataType === 'imei').encodings).toEqual([
      'chunked',
      'gzip',
      'json',
      'base64',
    ]);
    // The probe says what it undid, in the record (schema v1, optional field).
    const probe = ok(
      await leakwatch(['probe', '--lab-config', `${F}/lab/note-evidence.json`, `${F}/note-evidence.pcapng`]),
    );
    const records = probe.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const sync = records.find((r) => r.http?.[0]?.target === '/v2/sync');
    expect(sync.candidates.find((c: { key: string }) => c.key === '$.d').decoded).toEqual([
      'chunked',
      'gzip',
    ]);
    // Raw values travel in the probe's records to ingest, never further.
    expect(outbox[0]).not.toContain('460001234567890');
    expect(run.stdout).not.toContain('460001234567890');
  });

  it('npm start is leakwatch run on the bundled scenario', async () => {
    const pkg = JSON.parse(await readFile(join(projectRoot, 'package.json'), 'utf8'));
    expect(pkg.scripts.start).toBe('./bin/leakwatch.js run --manifest scenario/manifest.json');
    const dataDir = join(work, 'scenario');
    const result = ok(
      await leakwatch(['run', '--manifest', 'scenario/manifest.json', '--data-dir', dataDir]),
    );
    expect(result.stdout).toContain('15 alert(s) in the history of this line, 0 open.');
    await copyFile(join(dataDir, 'alerts-outbox.jsonl'), join(work, 'outbox-copy.jsonl'));
    // Build 2 opens one incident (15 alerts), build 3 resolves it: two notifications.
    expect((await readFile(join(work, 'outbox-copy.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(2);
  });
});
