import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ProbeStats, type RunProbeOptions, runProbe } from '../../probe/runProbe.ts';
import type { FlowRecord, LabContext } from '../../schema/flowRecord.ts';
import { projectRoot } from './scenario.ts';

export const fixturesDir = join(projectRoot, 'test', 'fixtures');

export const TEST_CONTEXT: LabContext = {
  device: { id: 'fixture-device', vendor: 'Test', model: 'Fixture' },
  firmware: { line: 'fixtures', build: '1', builtAt: '2020-01-01T00:00:00.000Z' },
  session: { id: 'fixtures', consent: {} },
};

export async function probeFixture(
  relativePath: string,
  options: RunProbeOptions = {},
): Promise<{ records: FlowRecord[]; stats: ProbeStats }> {
  const records: FlowRecord[] = [];
  const stats = await runProbe(
    createReadStream(join(fixturesDir, relativePath)),
    relativePath,
    TEST_CONTEXT,
    async (r) => {
      records.push(r);
    },
    options,
  );
  return { records, stats };
}

/**
 * Rows of a Zeek ASCII log (tab-separated, `#fields` header) or of `zeek-cut -m` output (field
 * names on the first line), as objects keyed by field name.
 */
export async function zeekLog(relativePath: string): Promise<Record<string, string>[]> {
  const text = await readFile(join(fixturesDir, 'zeek', 'baselines', relativePath), 'utf8');
  let lines = text
    .split('\n')
    .filter((line) => line && !(line.startsWith('#') && !line.startsWith('#fields')));
  let header = lines[0]!;
  if (header.startsWith('#fields')) header = header.slice('#fields\t'.length);
  lines = lines.slice(1);
  const fields = header.split('\t');
  return lines.map((line) => Object.fromEntries(line.split('\t').map((value, i) => [fields[i]!, value])));
}

/** The record whose client port is `port` (fixtures use distinct ephemeral ports). */
export function byClientPort(records: FlowRecord[], port: number): FlowRecord {
  const found = records.filter((r) => r.flow.client?.port === port);
  if (found.length !== 1)
    throw new Error(`expected one flow from client port ${port}, found ${found.length}`);
  return found[0]!;
}
