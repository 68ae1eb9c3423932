import { describe, expect, it } from '@jest/globals';
import { PacketView } from '../../probe/decode/packetView.ts';
import { TCP_FLAG } from '../../probe/decode/tcp.ts';
import { FlowTable, type FlowTableLimits } from '../../probe/flowTable.ts';
import type { FlowRecord } from '../../schema/flowRecord.ts';
import { TEST_CONTEXT } from '../helpers/fixtures.ts';

/** A TCP packet between 10.0.0.<client> and 203.0.113.1:443, as the decoders would leave the view. */
function packet(
  view: PacketView,
  seconds: number,
  clientPort: number,
  toServer: boolean,
  flags: number,
  payload = '',
): PacketView {
  const data = Buffer.from(payload);
  view.timestampMicros = seconds * 1_000_000;
  view.ipVersion = 4;
  view.protocol = 6;
  const client = 0x0a000001;
  const server = 0xcb007101;
  view.srcV4 = toServer ? client : server;
  view.dstV4 = toServer ? server : client;
  view.srcPort = toServer ? clientPort : 443;
  view.dstPort = toServer ? 443 : clientPort;
  view.tcpFlags = flags;
  view.tcpSequence = 1000;
  view.ipBytes = 40 + data.length;
  view.data = data;
  view.payloadOffset = 0;
  view.payloadEnd = data.length;
  view.appUid = -1;
  return view;
}

function table(limits: Partial<FlowTableLimits> = {}) {
  const records: FlowRecord[] = [];
  return { records, table: new FlowTable(TEST_CONTEXT, 'test', (r) => records.push(r), limits) };
}

describe('FlowTable', () => {
  it('forgets flows its sweep reported: the linger queue holds only flows still lingering', () => {
    const { records, table: t } = table();
    const view = new PacketView();
    // 2,000 connections 10 s apart, each closed by FIN both ways: each lingers 60 s, then a sweep reports it.
    for (let i = 0; i < 2000; i++) {
      const port = 20000 + i;
      t.add(packet(view, i * 10, port, true, TCP_FLAG.syn));
      t.add(packet(view, i * 10, port, true, TCP_FLAG.ack | TCP_FLAG.psh, 'imei=865123045678905'));
      t.add(packet(view, i * 10, port, true, TCP_FLAG.fin | TCP_FLAG.ack));
      t.add(packet(view, i * 10, port, false, TCP_FLAG.fin | TCP_FLAG.ack));
    }
    expect(records.length).toBeGreaterThan(1990);
    // Before the fix every reported flow stayed queued, with its content, until the lingering limit bit.
    const queued =
      (t as unknown as { lingerQueue: unknown[]; lingerHead: number }).lingerQueue.length -
      (t as unknown as { lingerHead: number }).lingerHead;
    expect(queued).toBeLessThanOrEqual(8);
  });

  it('reports a long flow in parts at the active timeout, each its own record', () => {
    const { records, table: t } = table({ activeTimeoutMicros: 60_000_000 });
    const view = new PacketView();

    t.add(packet(view, 0, 40000, true, TCP_FLAG.syn));
    t.add(packet(view, 30, 40000, false, TCP_FLAG.ack));
    t.add(packet(view, 61, 40000, true, TCP_FLAG.ack));
    t.add(packet(view, 70, 40000, false, TCP_FLAG.ack));
    t.flushAll();

    expect(records.map((r) => [r.flow.end, r.flow.packets.toServer, r.flow.packets.toClient])).toEqual([
      ['active-timeout', 1, 1],
      ['capture-end', 1, 1],
    ]);
    expect(records[0]!.flow.id).not.toBe(records[1]!.flow.id);
    expect(records[1]!.flow.client?.ip).toBe('10.0.0.1');
  });

  it('evicts the oldest flow at the flow cap', () => {
    const { records, table: t } = table({ maxFlows: 2 });
    const view = new PacketView();

    for (const port of [40001, 40002, 40003]) t.add(packet(view, 1, port, true, TCP_FLAG.syn));

    expect(records.map((r) => [r.flow.client?.port, r.flow.end])).toEqual([[40001, 'evicted']]);
    expect(t.openFlows).toBe(2);
  });

  it('closes idle flows after the idle timeout, by capture time', () => {
    const { records, table: t } = table({ idleTimeoutMicros: 10_000_000 });
    const view = new PacketView();

    t.add(packet(view, 0, 40001, true, TCP_FLAG.syn));
    t.add(packet(view, 5, 40002, true, TCP_FLAG.syn));
    t.tick(12_000_000);

    expect(records.map((r) => [r.flow.client?.port, r.flow.end])).toEqual([[40001, 'timeout']]);
  });

  it('keeps late packets after FIN in the closed flow and starts a new one on a new SYN', () => {
    const { records, table: t } = table();
    const view = new PacketView();

    t.add(packet(view, 0, 40001, true, TCP_FLAG.syn));
    t.add(packet(view, 1, 40001, true, TCP_FLAG.fin | TCP_FLAG.ack));
    t.add(packet(view, 1, 40001, false, TCP_FLAG.fin | TCP_FLAG.ack));
    t.add(packet(view, 20, 40001, false, TCP_FLAG.fin | TCP_FLAG.ack)); // late retransmission
    t.add(packet(view, 30, 40001, true, TCP_FLAG.syn)); // port reused
    t.flushAll();

    expect(records.map((r) => [r.flow.end, r.flow.packets.toServer, r.flow.packets.toClient])).toEqual([
      ['fin', 2, 2],
      ['capture-end', 1, 0],
    ]);
  });
});
