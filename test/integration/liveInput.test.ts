import { createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import { type LiveListener, listenPcapdroidUdp } from '../../probe/live/pcapdroidUdpListener.ts';
import { listenPcapOverTcp, type TcpListenerOptions } from '../../probe/live/pcapOverTcpListener.ts';
import type { FlowRecord, LabContext } from '../../schema/flowRecord.ts';
import { scenarioJob } from '../helpers/scenario.ts';

/** The records of a classic pcap file, each as its 16-byte record header plus data. */
function pcapRecords(file: Buffer): { header: Buffer; records: { head: Buffer; data: Buffer }[] } {
  const records: { head: Buffer; data: Buffer }[] = [];
  for (let offset = 24; offset + 16 <= file.length; ) {
    const length = file.readUInt32LE(offset + 8);
    records.push({
      head: file.subarray(offset, offset + 16),
      data: file.subarray(offset + 16, offset + 16 + length),
    });
    offset += 16 + length;
  }
  return { header: file.subarray(0, 24), records };
}

/** PCAPdroid's trailer mode: dummy Ethernet header, IP packet, padding to 4 bytes, 32-byte trailer. */
function withTrailer(ipPacket: Buffer, uid: number, appName: string): Buffer {
  const ethernet = Buffer.alloc(14);
  ethernet.writeUInt16BE(0x0800, 12);
  const padding = Buffer.alloc((4 - ((14 + ipPacket.length) % 4)) % 4);
  const trailer = Buffer.alloc(32);
  trailer.writeUInt32BE(0x01072021, 0);
  trailer.writeInt32BE(uid, 4);
  trailer.write(appName, 8, 20, 'utf8');
  return Buffer.concat([ethernet, ipPacket, padding, trailer]);
}

function recordHeader(template: Buffer, length: number): Buffer {
  const head = Buffer.from(template);
  head.writeUInt32LE(length, 8);
  head.writeUInt32LE(length, 12);
  return head;
}

const sendUdp = async (port: number, datagrams: Buffer[], from?: string) => {
  const socket = createSocket('udp4');
  if (from) await new Promise<void>((resolve) => socket.bind(0, from, () => resolve()));
  for (const datagram of datagrams) {
    await new Promise<void>((resolve, reject) =>
      socket.send(datagram, port, '127.0.0.1', (error) => (error ? reject(error) : resolve())),
    );
  }
  socket.close();
};
/** Starts a live listener on a free local port, keeping what it emits and warns. */
async function listen(
  start: (options: TcpListenerOptions) => Promise<LiveListener>,
  context: LabContext,
): Promise<{ received: FlowRecord[]; warnings: string[]; listener: LiveListener; port: number }> {
  const received: FlowRecord[] = [];
  const warnings: string[] = [];
  const listener = await start({
    host: '127.0.0.1',
    port: 0,
    context,
    emit: async (r) => void received.push(r),
    warn: (m) => void warnings.push(m),
  });
  return { received, warnings, listener, port: Number(listener.address.split(':').pop()) };
}
const settle = () => new Promise((resolve) => setTimeout(resolve, 200));

describe("PCAPdroid's UDP exporter", () => {
  it('reads the header datagram, then one record per datagram, and names the app from the trailer', async () => {
    const job = await scenarioJob('build-2');
    const { header, records } = pcapRecords(await readFile(job.path));
    const { received, warnings, listener, port } = await listen(listenPcapdroidUdp, job.context);
    const datagrams = records.map(({ head, data }) => {
      const frame = withTrailer(data.subarray(14), 10_123, 'com.xiaomi.account');
      return Buffer.concat([recordHeader(head, frame.length), frame]);
    });
    const headerDatagram = Buffer.from(header);
    headerDatagram.writeUInt32LE(1, 20); // trailer mode uses LINKTYPE_ETHERNET

    await sendUdp(port, [datagrams[0]!, headerDatagram, ...datagrams]);
    await settle();
    const stats = await listener.stop();

    expect(warnings).toEqual([
      'waiting for the pcap header PCAPdroid sends when its capture starts; restart the capture in PCAPdroid',
    ]);
    expect(stats).toMatchObject({ packets: records.length, flows: 6, droppedDatagrams: 1 });
    expect(received).toHaveLength(6);
    expect(
      received.every(
        (r) =>
          r.app?.uid === 10_123 && r.app.name === 'com.xiaomi.account' && r.probe.input === 'pcapdroid-udp',
      ),
    ).toBe(true);
    expect(received.flatMap((r) => r.candidates.map((c) => c.key))).toEqual(
      expect.arrayContaining(['imei', '$.device.imei']),
    );
  });

  it('counts a datagram whose record is cut short and keeps going', async () => {
    const job = await scenarioJob('build-1');
    const { header, records } = pcapRecords(await readFile(job.path));
    const { received, listener, port } = await listen(listenPcapdroidUdp, job.context);
    const whole = records.map(({ head, data }) => Buffer.concat([head, data]));
    const cut = whole[3]!.subarray(0, 30);

    await sendUdp(port, [header, ...whole.slice(0, 3), cut, ...whole.slice(3)]);
    await settle();
    const stats = await listener.stop();

    expect(stats).toMatchObject({ packets: records.length, droppedDatagrams: 1 });
    expect(received).toHaveLength(4);
  });
});

describe("PCAPdroid's UDP exporter, other senders", () => {
  it("takes the first header's sender only: another host's header cannot switch the link type under the lab's packets", async () => {
    const job = await scenarioJob('build-1');
    const { header, records } = pcapRecords(await readFile(job.path));
    const { received, warnings, listener, port } = await listen(listenPcapdroidUdp, job.context);
    const whole = records.map(({ head, data }) => Buffer.concat([head, data]));
    const hostileHeader = Buffer.from(header);
    hostileHeader.writeUInt32LE(101, 20); // LINKTYPE_RAW: the lab's Ethernet frames would be misread

    await sendUdp(port, [header, ...whole.slice(0, 2)], '127.0.0.1');
    await sendUdp(port, [hostileHeader, whole[0]!], '127.0.0.2');
    await sendUdp(port, whole.slice(2), '127.0.0.1');
    await settle();
    const stats = await listener.stop();

    expect(stats).toMatchObject({ packets: records.length, ignoredDatagrams: 2, droppedDatagrams: 0 });
    expect(received).toHaveLength(4);
    expect(warnings).toEqual([
      'ignoring datagrams from 127.0.0.2: this listener takes the capture of 127.0.0.1, which sent the first pcap header; add --allow 127.0.0.2 to take it too',
    ]);
  });

  it('with an allow-list, takes those senders only, whoever sends first', async () => {
    const job = await scenarioJob('build-1');
    const { header, records } = pcapRecords(await readFile(job.path));
    const received: FlowRecord[] = [];
    const listener = await listenPcapdroidUdp({
      host: '127.0.0.1',
      port: 0,
      context: job.context,
      emit: async (r) => void received.push(r),
      warn: () => undefined,
      allow: ['127.0.0.2'],
    });
    const port = Number(listener.address.split(':').pop());
    const whole = records.map(({ head, data }) => Buffer.concat([head, data]));
    await sendUdp(port, [header, ...whole], '127.0.0.1');
    await sendUdp(port, [header, ...whole], '127.0.0.2');
    await settle();
    const stats = await listener.stop();
    expect(stats).toMatchObject({ packets: records.length, ignoredDatagrams: records.length + 1 });
    expect(received).toHaveLength(4);
  });
});

describe('pcap over TCP', () => {
  it('reads a capture streamed over a connection, and survives a connection that is not a capture', async () => {
    const job = await scenarioJob('build-2');
    const file = await readFile(job.path);
    const { received, warnings, listener, port } = await listen(listenPcapOverTcp, job.context);
    const send = (bytes: Buffer) =>
      new Promise<void>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.end(bytes);
        });
        socket.on('close', () => resolve());
        socket.on('error', () => resolve());
      });

    await send(Buffer.from('GET / HTTP/1.1\r\nHost: not-a-capture\r\n\r\n'));
    await send(file);
    await settle();
    const stats = await listener.stop();

    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/not a capture file: magic number 0x47455420.*connection closed/);
    expect(stats).toMatchObject({ packets: 44, flows: 6 });
    expect(received.map((r) => r.probe.input)).toEqual(Array(6).fill('pcap-over-tcp'));
  });

  it('reads at most maxConnections captures at once; more are refused, counted and named (issue 20)', async () => {
    const job = await scenarioJob('build-1');
    const file = await readFile(job.path);
    const warnings: string[] = [];
    const listener = await listenPcapOverTcp({
      host: '127.0.0.1',
      port: 0,
      context: job.context,
      emit: async () => undefined,
      warn: (m) => void warnings.push(m),
      maxConnections: 2,
    });
    const port = Number(listener.address.split(':').pop());
    const open = async () => {
      const socket = connect(port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.on('error', () => undefined);
      socket.write(file.subarray(0, 24)); // a pcap header, then nothing: the capture stays open
      return socket;
    };
    const sockets = [await open(), await open()];
    await settle();
    sockets.push(await open());
    await settle();
    const stats = await listener.stop();
    for (const socket of sockets) socket.destroy();
    expect(stats).toMatchObject({ datagrams: 2, refusedConnections: 1 });
    expect(warnings).toEqual(['refusing a connection from 127.0.0.1: 2 captures are being read already']);
  });
});
