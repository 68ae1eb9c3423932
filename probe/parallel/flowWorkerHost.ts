import { parentPort, workerData } from 'node:worker_threads';
import type { LabContext } from '../../schema/flowRecord.ts';
import { FlowTableHost } from './flowTableHost.ts';

/** What the reading thread gives a flow-table worker when it starts it. */
export interface FlowWorkerData {
  readonly context: LabContext;
  readonly captureName: string;
  /** Tables sharing the probe's limits. */
  readonly tables: number;
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
const { context, captureName, tables } = workerData as FlowWorkerData;
const host = new FlowTableHost(context, captureName, tables);

port.on('message', (message: FlowWorkerMessage) => {
  let wire: Uint8Array | undefined;
  let batch: ReturnType<FlowTableHost['finish']>;
  if (message.type === 'chunk') {
    for (const text of message.spare) host.recycle(text);
    batch = host.chunk(message.bytes);
    wire = message.bytes;
  } else batch = host.finish();
  const transfer = [batch.keys.buffer, batch.kinds.buffer, batch.text.buffer] as ArrayBuffer[];
  if (wire) transfer.push(wire.buffer as ArrayBuffer);
  port.postMessage(wire ? { ...batch, wire } : batch, transfer);
});
