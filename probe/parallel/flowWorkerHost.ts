import { parentPort, workerData } from 'node:worker_threads';
import type { LabContext } from '../../schema/flowRecord.ts';
import { FlowTable, limitsPerTable } from '../flowTable.ts';
import { EVENT, EventWriter } from './eventWire.ts';
import { ENTRY, WireReader } from './packetWire.ts';

/** What the reading thread gives a flow-table worker when it starts it. */
export interface FlowWorkerData {
  readonly context: LabContext;
  readonly captureName: string;
  /** Tables sharing the probe's limits. */
  readonly threads: number;
}

/** A chunk's packets (wire entries), or the end of the capture (flush every flow). */
export type FlowWorkerMessage =
  | {
      readonly type: 'chunk';
      readonly bytes: Uint8Array;
      /** Text buffers of earlier batches, merged: reused by the event writer. */
      readonly spare: Uint8Array[];
    }
  | { readonly type: 'finish' };

const port = parentPort!;
const { context, captureName, threads } = workerData as FlowWorkerData;
const events = new EventWriter();
let primary = 0;
let secondary = 0;
const table = new FlowTable(
  context,
  captureName,
  () => {
    throw new Error('a worker table makes records in parts');
  },
  limitsPerTable(Number(process.env.LW_SHARE ?? threads)),
  {
    record(mid, serverIp, namesRest, members) {
      events.event(EVENT.record, primary, secondary);
      events.string(mid);
      events.string(serverIp);
      events.string(namesRest);
      events.string(members);
    },
    name(ip, name) {
      events.event(EVENT.name, primary, secondary);
      events.string(ip);
      events.string(name);
    },
  },
);
table.autoSweep = false;
table.onClosing = (openIndex) => {
  secondary = openIndex;
};

port.on('message', (message: FlowWorkerMessage) => {
  if (message.type === 'chunk') {
    for (const text of message.spare) events.recycle(text);
    const reader = new WireReader(message.bytes);
    for (let kind = reader.next(); kind !== 0; kind = reader.next()) {
      if (kind === ENTRY.packet) {
        primary = reader.index * 2;
        secondary = 0;
        table.packetIndex = reader.index;
        table.add(reader.view);
      } else {
        primary = reader.index * 2 + 1;
        table.tick(reader.sweepMicros);
      }
    }
  } else {
    primary = Number.MAX_SAFE_INTEGER;
    table.flushAll();
  }
  const batch = events.take();
  const wire = message.type === 'chunk' ? message.bytes : undefined;
  const transfer = [batch.keys.buffer, batch.kinds.buffer, batch.text.buffer] as ArrayBuffer[];
  if (wire) transfer.push(wire.buffer as ArrayBuffer);
  port.postMessage(wire ? { ...batch, wire } : batch, transfer);
});
