import { parentPort, workerData } from 'node:worker_threads';
import type { LabContext } from '../../schema/flowRecord.ts';
import { type KeyLogEntries, TlsKeyLog } from '../tls/keyLog.ts';
import type { EventBatch } from './eventWire.ts';
import { FlowTableHost } from './flowTableHost.ts';

/** What the reading thread gives a flow-table worker when it starts it. */
export interface FlowWorkerData {
  readonly context: LabContext;
  readonly captureName: string;
  /** Tables sharing the probe's limits. */
  readonly tables: number;
  /** The run's TLS secrets so far (key logs given on the command line). */
  readonly secrets: KeyLogEntries;
}

/** A chunk's packets (wire entries), or the end of the capture (flush every flow). */
export type FlowWorkerMessage =
  | {
      readonly type: 'chunk';
      readonly bytes: Uint8Array;
      /** Text buffers of earlier batches, merged: reused by the event writer. */
      readonly spare: Uint8Array[];
      /** Secrets read from the capture since the last chunk (pcapng secrets blocks). */
      readonly secrets?: KeyLogEntries;
    }
  | { readonly type: 'finish' };

const port = parentPort!;
const { context, captureName, tables, secrets } = workerData as FlowWorkerData;
const keyLog = new TlsKeyLog();
keyLog.addEntries(secrets);
const host = new FlowTableHost(context, captureName, tables, keyLog);

port.on('message', (message: FlowWorkerMessage) => {
  let wire: Uint8Array | undefined;
  let batch: EventBatch;
  if (message.type === 'chunk') {
    for (const text of message.spare) host.recycle(text);
    if (message.secrets) host.addSecrets(message.secrets);
    batch = host.chunk(message.bytes);
    wire = message.bytes;
  } else batch = host.finish();
  const transfer = [batch.keys.buffer, batch.kinds.buffer, batch.text.buffer] as ArrayBuffer[];
  if (wire) transfer.push(wire.buffer as ArrayBuffer);
  port.postMessage(wire ? { ...batch, wire } : batch, transfer);
});
