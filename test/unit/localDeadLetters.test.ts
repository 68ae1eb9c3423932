import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { LocalDeadLetterFile } from '../../local/localDeadLetterSink.ts';

describe('local dead letters (issue 20: nothing raw at rest)', () => {
  it('keep identifiers, masked candidates with digests and the record digest, in a 0600 file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'leakwatch-dl-'));
    try {
      const path = join(dir, 'dead-letters.jsonl');
      const record = {
        schemaVersion: 1,
        device: { id: 'lab-07', vendor: 'Xiaomi', model: 'RedMi 1S' },
        firmware: { line: 'miui', build: 'b1' },
        session: { id: 's1', consent: {} },
        flow: { id: 'f1' },
        http: [{ method: 'GET', target: '/a?imei=865123045678905&phone=%2B8613800138000' }],
        candidates: [
          { request: 0, location: 'query', key: 'imei', value: '865123045678905', shape: 'digits' },
          { request: 0, location: 'query', key: 'phone', value: '+8613800138000', shape: 'phone-like' },
        ],
      };
      const file = new LocalDeadLetterFile(path);
      await file.send({
        kind: 'poison-record',
        reason: 'a reason',
        sequenceNumber: '42',
        partitionKey: 'lab-07',
        data: Buffer.from(JSON.stringify(record)).toString('base64'),
        dataTruncated: false,
        failedAt: '2026-12-02T00:00:00.000Z',
      });
      await file.send({
        kind: 'malformed-record',
        reason: 'record is not JSON',
        sequenceNumber: '43',
        partitionKey: 'x',
        data: Buffer.from('imei=865123045678905').toString('base64'),
        dataTruncated: false,
        failedAt: '2026-12-02T00:00:00.000Z',
      });
      const text = await readFile(path, 'utf8');
      expect(text).not.toContain('865123045678905');
      expect(text).not.toContain('8613800138000');
      expect(text).not.toContain(Buffer.from('865123045678905').toString('base64').slice(0, 12));
      const [poison, malformed] = text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(poison).toMatchObject({
        kind: 'poison-record',
        sequenceNumber: '42',
        record: {
          device: { id: 'lab-07' },
          session: { id: 's1' },
          flow: { id: 'f1' },
          candidates: [
            { location: 'query', key: 'imei', masked: '8651•••••••8905' },
            { location: 'query', key: 'phone', masked: '+861••••••8000' },
          ],
        },
      });
      expect(poison.record.candidates[0].sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(malformed.record).toBeUndefined();
      expect(malformed.dataBytes).toBe(20);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
