import { createServer, type Socket } from 'node:net';
import type { FlowRecord, LabContext } from '../../schema/flowRecord.ts';
import { CaptureFormatError } from '../errors.ts';
import { limitsPerTable } from '../flowTable.ts';
import { runProbe } from '../runProbe.ts';
import type { LiveListener, LiveStats } from './pcapdroidUdpListener.ts';

/**
 * pcap-over-TCP: each connection streams a pcap or pcapng file (PCAPdroid's TCP exporter,
 * `tcpdump -w - | nc HOST PORT`, `tshark -w -`), read as it arrives. A connection that does not
 * carry a capture is closed with a message; it never stops the listener. At most `maxConnections`
 * at once (default 16), each with its share of the probe's memory limits (flows, stream bytes), so
 * many connections cannot take more memory than one capture may: further ones are refused, counted
 * and named once per address (800 connections once took 873 MB, issue 20).
 */
export interface TcpListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly context: LabContext;
  readonly emit: (record: FlowRecord) => Promise<void>;
  readonly warn?: (message: string) => void;
  /** Connections read at once; more are refused. @default 16 */
  readonly maxConnections?: number;
}

export const MAX_TCP_CONNECTIONS = 16;

/** The socket's data until it ends or is destroyed (stopping the listener ends a capture cleanly). */
async function* untilClosed(socket: Socket): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of socket) yield chunk as Buffer;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw error;
  }
}

export async function listenPcapOverTcp(options: TcpListenerOptions): Promise<LiveListener> {
  const warn = options.warn ?? ((message: string) => process.stderr.write(`leakwatch probe: ${message}\n`));
  const totals = { packets: 0, flows: 0, connections: 0, refused: 0, skipped: [] as string[] };
  const maxConnections = options.maxConnections ?? MAX_TCP_CONNECTIONS;
  const limits = limitsPerTable(maxConnections);
  const refusedFrom = new Set<string>();
  const running = new Set<Promise<void>>();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    totals.connections++;
    sockets.add(socket);
    const name = `tcp://${socket.remoteAddress}:${socket.remotePort}`;
    const work = runProbe(untilClosed(socket), name, options.context, options.emit, {
      input: 'pcap-over-tcp',
      limits,
    })
      .then((stats) => {
        totals.packets += stats.packets;
        totals.flows += stats.flows;
        if (stats.skipped.total > 0) totals.skipped.push(stats.skipped.summary());
      })
      .catch((error: Error) => {
        warn(
          error instanceof CaptureFormatError
            ? `${error.message}; connection closed`
            : `${name}: ${error.message}`,
        );
        socket.destroy();
      })
      .finally(() => {
        sockets.delete(socket);
        running.delete(work);
      });
    running.add(work);
  });
  server.maxConnections = maxConnections;
  server.on('drop', (data?: { remoteAddress?: string }) => {
    totals.refused++;
    const from = data?.remoteAddress ?? 'unknown';
    if (!refusedFrom.has(from) && refusedFrom.size < 16) {
      refusedFrom.add(from);
      warn(`refusing a connection from ${from}: ${maxConnections} captures are being read already`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as { address: string; port: number };
  return {
    address: `tcp://${bound.address}:${bound.port}`,
    async stop(): Promise<LiveStats> {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Open connections end their capture: what they sent so far is flushed.
        for (const socket of sockets) socket.destroy();
      });
      await Promise.all([...running]);
      return {
        packets: totals.packets,
        flows: totals.flows,
        datagrams: totals.connections,
        droppedDatagrams: 0,
        ...(totals.refused > 0 ? { refusedConnections: totals.refused } : {}),
        skipped: totals.skipped.join('; '),
      };
    },
  };
}
