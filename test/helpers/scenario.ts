import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProbe } from '../../probe/runProbe.ts';
import { SessionSink } from '../../probe/sinks/sessionSink.ts';
import {
  type FlowRecord,
  type LabContext,
  LabContextSchema,
  type StreamRecord,
} from '../../schema/flowRecord.ts';

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCENARIO_BUILDS = ['build-1', 'build-2', 'build-3'] as const;

export async function scenarioJob(
  name: (typeof SCENARIO_BUILDS)[number],
): Promise<{ path: string; captures: string[]; context: LabContext }> {
  const path = join(projectRoot, 'scenario', 'captures', `${name}.pcap`);
  return {
    path,
    captures: [path],
    context: LabContextSchema.parse(
      JSON.parse(await readFile(join(projectRoot, 'scenario', 'lab', `${name}.json`), 'utf8')),
    ),
  };
}

/** Runs the probe over one bundled capture and returns its records. */
export async function probeScenario(name: (typeof SCENARIO_BUILDS)[number]): Promise<FlowRecord[]> {
  const job = await scenarioJob(name);
  const records: FlowRecord[] = [];
  async function* bytes() {
    yield await readFile(job.path);
  }
  await runProbe(bytes(), `${name}.pcap`, job.context, async (record) => {
    records.push(record);
  });
  return records;
}

export async function* chunksOf(buffer: Buffer, size = buffer.length): AsyncGenerator<Buffer> {
  for (let i = 0; i < buffer.length; i += size) yield buffer.subarray(i, i + size);
}

/** The scenario's records as the probe sends them: per capture, its flows then its session-end record. */
export async function scenarioRecords(): Promise<StreamRecord[][]> {
  const builds: StreamRecord[][] = [];
  for (const name of SCENARIO_BUILDS) {
    const job = await scenarioJob(name);
    const out: StreamRecord[] = [];
    const collect = {
      write: async (r: StreamRecord) => void out.push(r),
      writeJson: async (json: string) => void out.push(JSON.parse(json)),
      close: async () => ({ delivered: out.length, retried: 0 }),
    };
    const session = new SessionSink(
      collect,
      job.context,
      () => new Date('2026-11-21T10:00:00Z'),
      `run-${name}`,
    );
    for (const record of await probeScenario(name)) await session.write(record);
    await session.close();
    builds.push(out);
  }
  return builds;
}
