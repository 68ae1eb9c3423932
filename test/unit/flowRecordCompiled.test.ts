import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { z } from 'zod';
import { readHar } from '../../probe/har/readHar.ts';
import {
  compiledFlowRecordSchema,
  type FlowRecord,
  FlowRecordSchema,
  parseStreamRecord,
} from '../../schema/flowRecord.ts';
import { fixturesDir, probeFixture, TEST_CONTEXT } from '../helpers/fixtures.ts';

/**
 * The ingest function parses records with `FlowRecordSchema` compiled by zod's AOT compiler. The
 * compiled parser must be the schema, only faster: for the probe's real records and for every
 * mutation below, it accepts exactly what the runtime parser accepts, returns the same value (same
 * keys in the same order, unknown keys stripped) and, when it rejects, the same issues.
 */

async function realRecords(): Promise<FlowRecord[]> {
  const records: FlowRecord[] = [];
  for (const file of ['lab-device/mibox-build-1.pcapng', 'lab-device/mibox-build-2.pcap.gz']) {
    records.push(...(await probeFixture(file)).records);
  }
  const har = 'lab-device/mibox-build-1-app.har';
  records.push(...readHar(await readFile(join(fixturesDir, har), 'utf8'), har, TEST_CONTEXT).records);
  return records;
}

function sameOutcome(input: unknown): void {
  const runtime = FlowRecordSchema.safeParse(input);
  const compiled = compiledFlowRecordSchema().safeParse(input);
  expect(compiled.success).toBe(runtime.success);
  if (runtime.success && compiled.success) {
    expect(JSON.stringify(compiled.data)).toBe(JSON.stringify(runtime.data));
    expect(compiled.data).toEqual(runtime.data);
  } else {
    expect(compiled.error?.issues).toEqual(runtime.error?.issues);
  }
}

const HOSTILE_VALUES: readonly unknown[] = [
  undefined,
  null,
  '',
  'x'.repeat(257),
  'x'.repeat(513),
  '\ud800',
  '2020-01-01T00:00:00.000+01:00',
  '::1\n',
  '::@1\\',
  '1.2.3.256',
  -1,
  -0,
  1.5,
  65536,
  2 ** 53,
  Number.NaN,
  true,
  [],
  {},
  { __proto__: null, extra: 1 },
];

/** Every value path of a JSON value (objects and arrays walked), the root excluded. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value))
    return value.flatMap((item, i) => [[...prefix, i], ...paths(item, [...prefix, i])]);
  if (value && typeof value === 'object')
    return Object.entries(value).flatMap(([key, item]) => [
      [...prefix, key],
      ...paths(item, [...prefix, key]),
    ]);
  return [];
}

function withValueAt(record: unknown, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(record) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (value === undefined && !Array.isArray(node)) delete node[last];
  else node[last] = value;
  return copy;
}

describe('compiled flow record parser', () => {
  it('compiles: zod accepts the whole schema for its fast path (a refusal would quietly keep the slow one)', () => {
    expect(() => z.compile(FlowRecordSchema, { strict: true })).not.toThrow();
    expect(compiledFlowRecordSchema()).not.toBe(FlowRecordSchema);
  });

  it('returns what the runtime parser returns for every record the probe makes of the fixtures', async () => {
    const records = await realRecords();
    expect(records.length).toBeGreaterThanOrEqual(10);
    expect(records.some((r) => r.candidates.length > 0 && r.http && r.dns === undefined)).toBe(true);
    for (const record of records) {
      sameOutcome(record);
      expect(parseStreamRecord(JSON.stringify(record))).toEqual(FlowRecordSchema.parse(record));
    }
  });

  it('agrees with the runtime parser on each field of a real record set to hostile values, removed, or joined by an unknown key', async () => {
    const records = await realRecords();
    // One record of each shape: HTTP with candidates, TLS, DNS, HAR.
    const samples = [
      records.find((r) => r.candidates.length > 0 && r.probe.input !== 'har')!,
      records.find((r) => r.tls !== undefined)!,
      records.find((r) => r.dns !== undefined)!,
      records.find((r) => r.probe.input === 'har')!,
    ];
    let cases = 0;
    let accepted = 0;
    for (const sample of samples) {
      expect(sample).toBeDefined();
      for (const path of paths(sample)) {
        for (const value of HOSTILE_VALUES) {
          const mutated = withValueAt(sample, path, value);
          sameOutcome(mutated);
          if (FlowRecordSchema.safeParse(mutated).success) accepted++;
          cases++;
        }
        const inner = path.reduce<unknown>(
          (node, key) => (node as Record<string | number, unknown>)[key],
          sample,
        );
        if (inner && typeof inner === 'object' && !Array.isArray(inner)) {
          sameOutcome(withValueAt(sample, path, { ...inner, unknownKey: 'stripped' }));
        }
      }
      sameOutcome({ ...sample, unknownKey: 'stripped' });
      // A consent service named `__proto__` (JSON.parse makes it an own key).
      sameOutcome(
        JSON.parse(
          JSON.stringify(sample).replace(
            /"consent":\{[^}]*\}/,
            '"consent":{"__proto__":"denied","a":"granted"}',
          ),
        ),
      );
    }
    // Both outcomes were exercised, many times.
    expect(cases).toBeGreaterThan(4000);
    expect(accepted).toBeGreaterThan(100);
    expect(cases - accepted).toBeGreaterThan(1000);
  });

  it('agrees with the runtime parser on arbitrary JSON grafted anywhere into a real record', async () => {
    const [sample] = (await realRecords()).filter((r) => r.candidates.length > 0);
    const where = paths(sample);
    fc.assert(
      fc.property(fc.nat(where.length - 1), fc.jsonValue(), (i, value) => {
        sameOutcome(withValueAt(sample, where[i]!, value));
      }),
      { numRuns: 2000 },
    );
  });
});
