import { describe, expect, it } from '@jest/globals';
import { decodeChunk, encodeChunk, IdState, idPrefix, SessionIds } from '../../core/ingest/flowIdChunks.ts';
import {
  encodeSequence,
  sumContributions,
  watermarkAttribute,
  withoutWatermarks,
} from '../../core/store/watermark.ts';

describe('sequence numbers as watermarks', () => {
  it('orders encoded sequence numbers as the numbers, whatever their length', () => {
    const numbers = [
      '0',
      '9',
      '10',
      '35',
      '36',
      '49590338271490256608559692538361571095921575989136588898',
      '49590338271490256608559692538361571095921575989136588899',
      '49590338271490256608559692540925702759324208523137515618',
      '1'.padEnd(129, '0'),
    ];
    const shuffled = [...numbers].reverse();
    const byEncoding = shuffled.sort((a, b) => (encodeSequence(a) < encodeSequence(b) ? -1 : 1));
    expect(byEncoding).toEqual(numbers);
    // Random neighbours of one length and across lengths.
    for (let i = 0; i < 500; i++) {
      const a = BigInt(Math.floor(Math.random() * 2 ** 52)) * 10n ** BigInt(i % 40);
      const b = a + BigInt(1 + Math.floor(Math.random() * 1000));
      expect(encodeSequence(String(a)) < encodeSequence(String(b))).toBe(true);
    }
  });

  it('refuses what is not a Kinesis sequence number, naming it', () => {
    expect(() => encodeSequence('')).toThrow('not a Kinesis sequence number: ""');
    expect(() => encodeSequence('0012')).toThrow(/0012/);
    expect(() => encodeSequence('12a')).toThrow(/12a/);
    expect(() => encodeSequence('1'.padEnd(130, '0'))).toThrow(RangeError);
  });

  it("names a shard's watermark attribute, and readers leave watermarks out", () => {
    expect(watermarkAttribute('shardId-000000000000')).toBe('w_0');
    expect(watermarkAttribute('shardId-000000000017')).toBe('w_17');
    expect(watermarkAttribute('shardId-000000000017-dead')).toBe('w_shardId-000000000017-dead');
    expect(withoutWatermarks({ flows: 3, w_0: 'x', w_17: 'y', where: 'a' })).toEqual({
      flows: 3,
      where: 'a',
    });
  });

  it("sums a batch's contributions: numbers added, sets joined, first and last seen, the first sample", () => {
    const sum = sumContributions([
      {
        sequence: 'a',
        add: { flows: 1, where: new Set(['x']) },
        firstSeen: '2026-01-02',
        lastSeen: '2026-01-02',
        setOnce: { sample: 's1' },
      },
      {
        sequence: 'b',
        add: { flows: 1, where: new Set(['y']), bytes: 5 },
        firstSeen: '2026-01-01',
        lastSeen: '2026-01-03',
      },
      { sequence: 'c', add: { flows: 1, flowsWithoutConsent: undefined }, setOnce: { sample: 's2' } },
    ]);
    expect(sum).toEqual({
      add: { flows: 3, where: new Set(['x', 'y']), bytes: 5 },
      firstSeen: '2026-01-01',
      lastSeen: '2026-01-03',
      setOnce: { sample: 's1' },
    });
  });
});

describe('flow-id chunks', () => {
  it('keep 9 bytes per flow and read back what was written', () => {
    const entries = [
      { id: idPrefix('a'.repeat(32)), state: IdState.Counted },
      { id: idPrefix('b'.repeat(64)), state: IdState.Settled },
      { id: idPrefix('c'.repeat(32)), state: IdState.Dead },
      { id: idPrefix('d'.repeat(32)), state: IdState.Recounted },
    ];
    const bytes = encodeChunk(entries);
    expect(bytes.length).toBe(36);
    expect(decodeChunk(bytes)).toEqual(entries);
    expect(() => decodeChunk(bytes.subarray(0, 35))).toThrow(
      /35 bytes is not a whole number of 9-byte entries/,
    );
  });

  it('hash the id first, so ids that share a prefix stay apart', () => {
    const numbered = (n: number) => n.toString(16).padStart(32, '0');
    expect(idPrefix(numbered(1))).not.toBe(idPrefix(numbered(2)));
    expect(idPrefix(numbered(1))).toMatch(/^[0-9a-f]{16}$/);
  });

  it("know a session's counted flows, and per probe run the settled ones", () => {
    const ids = new SessionIds();
    ids.apply('run-1', [
      { id: '01', state: IdState.Counted },
      { id: '02', state: IdState.Dead },
    ]);
    ids.apply('run-2', [
      { id: '01', state: IdState.Settled },
      { id: '02', state: IdState.Recounted },
    ]);
    expect([...ids.counted].sort()).toEqual(['01', '02']);
    expect([...ids.settledIn('run-1')].sort()).toEqual(['01', '02']);
    // A redriven dead letter counts for the build, not again for a run.
    expect([...ids.settledIn('run-2')]).toEqual(['01']);
  });
});
