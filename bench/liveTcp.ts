import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PcapWriter } from '../scenario/pcapWriter.ts';
import { benchArgs } from './args.ts';

/**
 * Live pcap-over-TCP under hostile load (issue 20): the installed probe listens
 * (`leakwatch probe --listen tcp://127.0.0.1:PORT`, its own heap cap) while `--connections` clients
 * connect at once, each streaming a capture of one-byte TCP segments with a hole before every byte
 * (no segment can join another: each is kept on its own until the flow ends). Printed: connections
 * read and refused, what was sent, the probe's peak RSS (VmHWM) and its time, next to the goal.
 *
 *   npm run bench:live [-- --connections 64 --flows 100 --segments 5000]
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = benchArgs('bench:live', {
  connections: { type: 'string', default: '64' },
  flows: { type: 'string', default: '100' },
  segments: { type: 'string', default: '5000' },
});
const CONNECTIONS = Number(values.connections);
const FLOWS = Number(values.flows);
const SEGMENTS = Number(values.segments);
/** The memory the probe may take, whatever its input (the bin's heap cap is 192 MB). */
const GOAL_MB = 320;

function hostileCapture(connection: number): Buffer {
  const phone = { mac: '02:00:00:00:00:01', ip: `10.${connection >> 8}.${connection & 255}.2` };
  const server = { mac: '02:00:00:00:00:02', ip: '203.0.113.10' };
  const w = new PcapWriter(Date.UTC(2026, 0, 1) * 1000);
  for (let f = 0; f < FLOWS; f++) {
    w.tcpSegment(phone, 10_000 + f, server, 80, 1000, 0, 0x02);
    w.tcpSegment(server, 80, phone, 10_000 + f, 5000, 1001, 0x12);
  }
  const byte = Buffer.from('a');
  for (let i = 0; i < SEGMENTS; i++)
    for (let f = 0; f < FLOWS; f++)
      w.tcpSegment(phone, 10_000 + f, server, 80, 1002 + 2 * i, 5001, 0x18, byte);
  for (let f = 0; f < FLOWS; f++)
    w.tcpSegment(phone, 10_000 + f, server, 80, 1002 + 2 * SEGMENTS, 5001, 0x04);
  return w.toBuffer();
}

const captures = Array.from({ length: Math.min(CONNECTIONS, 4) }, (_, i) => hostileCapture(i));
const probe = spawn(
  join(root, 'bin', 'leakwatch.js'),
  ['probe', '--listen', 'tcp://127.0.0.1:0', '--lab-config', join(root, 'scenario', 'lab', 'build-1.json')],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LEAKWATCH_BUNDLE_ONLY: '1' } },
);
let records = 0;
let stderr = '';
probe.stdout.on('data', (chunk: Buffer) => {
  for (const byte of chunk) if (byte === 0x0a) records++;
});
const port = await new Promise<number>((resolve, reject) => {
  probe.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    const match = /listening on tcp:\/\/[^\s:]+:(\d+)/.exec(stderr);
    if (match) resolve(Number(match[1]));
  });
  probe.on('exit', () => reject(new Error(`the probe exited before listening:\n${stderr}`)));
});
const peakMb = () => {
  const status = readFileSync(`/proc/${probe.pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
};

const started = performance.now();
let sent = 0;
let refused = 0;
await Promise.all(
  Array.from(
    { length: CONNECTIONS },
    (_, i) =>
      new Promise<void>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        const data = captures[i % captures.length]!;
        socket.on('error', () => {
          refused++;
          resolve();
        });
        socket.on('close', () => resolve());
        socket.on('connect', () => {
          socket.end(data, () => {
            sent += data.length;
          });
        });
      }),
  ),
);
// The last connections' flows are written when their captures end: wait until the records stop.
let last = -1;
while (records !== last) {
  last = records;
  await new Promise((r) => setTimeout(r, 1000));
}
const seconds = (performance.now() - started) / 1000;
const peak = peakMb();
probe.kill('SIGINT');
await new Promise((resolve) => probe.on('exit', resolve));
const refusedByProbe = Number(/(\d+) connections? refused/.exec(stderr)?.[1] ?? 0);
console.log(
  `leakwatch live TCP: ${CONNECTIONS} connections at once, each ${(captures[0]!.length / 1e6).toFixed(1)} MB of one-byte segments (${FLOWS} flows × ${SEGMENTS} segments, a hole before each)`,
);
console.log(
  `  clients wrote ${(sent / 1e6).toFixed(0)} MB in ${seconds.toFixed(1)} s (connections the probe refused included); the probe read ${/(\d+) packets/.exec(stderr)?.[1] ?? '?'} packets, wrote ${records} flow records, refused ${refusedByProbe} connections (${refused} failed on our side)`,
);
console.log(
  `  probe peak RSS ${peak.toFixed(0)} MB; goal (issue 20): bounded whatever the connections and segments, ≤ ${GOAL_MB} MB — ${peak <= GOAL_MB ? 'met' : 'NOT MET'}`,
);
const tail = stderr.trim().split('\n').slice(-4).join('\n  ');
console.log(`  probe said: ${tail}`);
process.exitCode = peak <= GOAL_MB ? 0 : 1;
