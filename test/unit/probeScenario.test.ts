import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { buildScenario, REGISTRATION } from '../../scenario/scenario.ts';
import { FlowRecordSchema } from '../../schema/flowRecord.ts';
import { probeScenario, projectRoot } from '../helpers/scenario.ts';

describe('bundled scenario', () => {
  it('is exactly what the committed generator produces', async () => {
    for (const build of buildScenario()) {
      const committed = await readFile(join(projectRoot, 'scenario', 'captures', `${build.name}.pcap`));
      const lab = JSON.parse(
        await readFile(join(projectRoot, 'scenario', 'lab', `${build.name}.json`), 'utf8'),
      );

      expect(committed.equals(build.capture)).toBe(true);
      expect(lab).toEqual(build.context);
    }
    const registration = JSON.parse(
      await readFile(join(projectRoot, 'scenario', 'lab', 'registration.json'), 'utf8'),
    );
    expect(registration).toEqual(REGISTRATION);
  });
});

describe('probe over build 2 (plaintext cloud messaging)', () => {
  it('emits one schema-valid record per flow with names, transport and counts', async () => {
    const records = await probeScenario('build-2');

    expect(records).toHaveLength(6);
    for (const record of records) expect(FlowRecordSchema.safeParse(record).success).toBe(true);
    const summary = records.map((r) => [
      r.application,
      r.transport,
      r.flow.server.port,
      r.names.httpHost ?? r.names.sni ?? r.names.dns ?? null,
    ]);
    expect(summary).toEqual(
      expect.arrayContaining([
        ['dns', 'plaintext', 53, null],
        ['tls', 'tls', 443, 'api.account.xiaomi.com'],
        ['http', 'plaintext', 80, 'update.miui.com'],
        ['http', 'plaintext', 80, 'api.account.xiaomi.com'],
      ]),
    );
    const tls = records.find((r) => r.application === 'tls')!;
    // Handshake (SYN, ACK), ClientHello, ACK after the server's bytes, FIN, last ACK: 6 client packets; 4 from the server.
    expect(tls.flow.packets).toEqual({ toServer: 6, toClient: 4 });
    expect(tls.flow.end).toBe('fin');
    expect(tls.tls).toEqual({
      version: 'TLS 1.3',
      offeredVersion: 'TLS 1.3',
      sni: 'api.account.xiaomi.com',
      alpn: ['http/1.1'],
    });
    expect(tls.names.dns).toBe('api.account.xiaomi.com');
  });

  it('lists the planted values as candidates with where they were', async () => {
    const records = await probeScenario('build-2');
    const candidates = records.flatMap((r) => r.candidates.map((c) => `${c.location}:${c.key}=${c.value}`));

    expect(candidates).toEqual(
      expect.arrayContaining([
        'form:imei=864690020123454',
        'form:phone=+86 138 0013 8000',
        'form:carrier=China Mobile',
        'json:$.device.imei=864690020123454',
        'json:$.contacts[0].number=+86 139 1099 8765',
        'json:$.sms[0].body=leakwatch canary 7f3a: meet at 6',
      ]),
    );
  });

  it('gives the same flow ids on a second run (replays are recognisable)', async () => {
    const first = (await probeScenario('build-2')).map((r) => r.flow.id);
    const second = (await probeScenario('build-2')).map((r) => r.flow.id);

    expect(second).toEqual(first);
    expect(new Set(first).size).toBe(first.length);
  });
});
