import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import dynalite from 'dynalite';
import kinesalite from 'kinesalite';
import { DynamoTransactionShim } from './dynamoTransactionShim.ts';

/**
 * The emulators' side of local mode, on a worker thread of its own (local/emulatorWorker.mjs loads
 * it): dynalite behind the transaction shim, and kinesalite, on loopback ports. The pipeline's
 * handlers and SDK clients run on the main thread, so the two share the machine's cores instead of
 * one event loop. Answers `{ dynamoPort, kinesisPort }` when listening; a `close` message closes
 * every server (dynalite's on-disk store is flushed) and answers `closed`.
 */
export interface EmulatorHostOptions {
  /** dynalite's data directory; null keeps the table in memory. */
  readonly dynamoPath: string | null;
  /** The transaction shim's journal (crash safety of an on-disk store); null for none. */
  readonly journalPath?: string | null;
  /**
   * kinesalite's data directory (records accepted survive a restart: leakwatch serve) and where it
   * listens; by default in memory on a free loopback port (the stream is only a conveyor).
   */
  readonly kinesis?: { readonly path?: string; readonly host?: string; readonly port?: number };
}
export interface EmulatorHostReady {
  readonly dynamoPort: number;
  readonly kinesisPort: number;
}

const listen = (server: Server, port = 0, host = '127.0.0.1') =>
  new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

const { dynamoPath, journalPath, kinesis } = workerData as EmulatorHostOptions;
const dynamoServer: Server = dynalite({
  ...(dynamoPath ? { path: dynamoPath } : {}),
  createTableMs: 0,
  deleteTableMs: 0,
  updateTableMs: 0,
});
const kinesisServer: Server = kinesalite({
  ...(kinesis?.path ? { path: kinesis.path } : {}),
  createStreamMs: 0,
  deleteStreamMs: 0,
  updateStreamMs: 0,
  shardLimit: 50,
});
const shim = new DynamoTransactionShim(await listen(dynamoServer), journalPath ?? undefined);
const ready: EmulatorHostReady = {
  dynamoPort: await shim.listen(),
  kinesisPort: await listen(kinesisServer, kinesis?.port, kinesis?.host),
};
parentPort!.on('message', async (message: unknown) => {
  if (message !== 'close') return;
  await shim.close();
  await closeServer(kinesisServer);
  await closeServer(dynamoServer);
  parentPort!.postMessage('closed');
});
parentPort!.postMessage(ready);
