import { describe, expect, it } from '@jest/globals';
import { LINKTYPE } from '../../probe/decode/link.ts';
import { PacketDecoder } from '../../probe/decode/packet.ts';
import { runProbe } from '../../probe/runProbe.ts';
import { PcapWriter, tlsClientHello } from '../../scenario/pcapWriter.ts';
import type { FlowRecord } from '../../schema/flowRecord.ts';
import { TEST_CONTEXT } from '../helpers/fixtures.ts';
import { chunksOf } from '../helpers/scenario.ts';

const hex = (text: string) => Buffer.from(text.replace(/#.*$/gm, '').replace(/\s+/g, ''), 'hex');

// IPv4 (RFC 791) with 4 bytes of options (IHL 6), UDP 10.0.0.1:1111 → 10.0.0.2:53, 4-byte payload.
const ipv4WithOptions = hex(`
  46 00 0024 0001 0000 40 11 0000   # version 4, IHL 6, total length 36, TTL 64, UDP
  0a000001 0a000002                # 10.0.0.1 → 10.0.0.2
  94040000                         # option: router alert
  0457 0035 000c 0000              # UDP 1111 → 53, length 12
  deadbeef                         # payload
`);
// IPv6 (RFC 8200) with a hop-by-hop header, then UDP 2001:db8::1:5000 → 2001:db8::2:53.
const ipv6WithHopByHop = hex(`
  60000000 0014 00 40               # payload length 20, next header 0 (hop-by-hop), hop limit 64
  20010db8000000000000000000000001  # 2001:db8::1
  20010db8000000000000000000000002  # 2001:db8::2
  11 00 0000 00000000               # hop-by-hop: next 17 (UDP), length 0 (8 bytes), padding
  1388 0035 000c 0000               # UDP 5000 → 53, length 12
  cafef00d
`);

describe('link layers', () => {
  const decode = (linkType: number, frame: Buffer) => {
    const decoder = new PacketDecoder();
    const result = decoder.decode(linkType, frame, 0, frame.length, 1);
    return { result, view: decoder.view };
  };

  it.each([
    ['raw IP (PCAPdroid)', LINKTYPE.raw, ipv4WithOptions],
    [
      'null/loopback, AF_INET in host order',
      LINKTYPE.null,
      Buffer.concat([hex('02000000'), ipv4WithOptions]),
    ],
    ['loop, network order', LINKTYPE.loop, Buffer.concat([hex('00000002'), ipv4WithOptions])],
    [
      'Linux SLL',
      LINKTYPE.linuxSll,
      Buffer.concat([hex('0000 0001 0006 001122334455 0000 0800'), ipv4WithOptions]),
    ],
    [
      'Linux SLL2',
      LINKTYPE.linuxSll2,
      Buffer.concat([hex('0800 0000 00000002 0001 00 06 0011223344550000'), ipv4WithOptions]),
    ],
    [
      'Ethernet with QinQ tags',
      LINKTYPE.ethernet,
      Buffer.concat([hex('001122334455 66778899aabb 88a8 0064 8100 00c8 0800'), ipv4WithOptions]),
    ],
  ])('%s carries IPv4 with options to UDP', (_, linkType, frame) => {
    const { result, view } = decode(linkType, frame);

    expect(result).toBe('ok');
    expect([
      view.sourceIp(),
      view.srcPort,
      view.destinationIp(),
      view.dstPort,
      view.payload().toString('hex'),
    ]).toEqual(['10.0.0.1', 1111, '10.0.0.2', 53, 'deadbeef']);
  });

  it('walks IPv6 extension headers to UDP', () => {
    const { result, view } = decode(LINKTYPE.raw, ipv6WithHopByHop);

    expect(result).toBe('ok');
    expect([view.sourceIp(), view.destinationIp(), view.dstPort, view.payload().toString('hex')]).toEqual([
      '2001:db8::1',
      '2001:db8::2',
      53,
      'cafef00d',
    ]);
  });

  it('reassembles IPv6 fragments in any order', () => {
    const decoder = new PacketDecoder();
    const header = (offsetUnits: number, more: boolean, payloadLength: number) =>
      hex(`60000000 ${payloadLength.toString(16).padStart(4, '0')} 2c 40 20010db8000000000000000000000001 20010db8000000000000000000000002
           11 00 ${((offsetUnits << 3) | (more ? 1 : 0)).toString(16).padStart(4, '0')} 0000abcd`);
    const udp = hex('1388 0035 0018 0000 0001020304050607 08090a0b0c0d0e0f'); // 8-byte header + 16 bytes
    const first = Buffer.concat([header(0, true, 8 + 16), udp.subarray(0, 16)]);
    const second = Buffer.concat([header(2, false, 8 + 8), udp.subarray(16)]);

    expect(decoder.decode(LINKTYPE.raw, second, 0, second.length, 1)).toBe('held');
    expect(decoder.decode(LINKTYPE.raw, first, 0, first.length, 2)).toBe('ok');
    expect(decoder.view.payload().toString('hex')).toBe('000102030405060708090a0b0c0d0e0f');
  });

  it('reports an unknown link type and a non-IP EtherType as skip reasons', () => {
    expect(decode(9999, ipv4WithOptions).result).toBe('unsupported-link-type');
    expect(decode(LINKTYPE.ethernet, hex('001122334455 66778899aabb 0806 0001')).result).toBe(
      'unsupported-ethertype',
    );
  });
});

async function probe(file: Buffer): Promise<FlowRecord[]> {
  const records: FlowRecord[] = [];
  await runProbe(chunksOf(file, 100), 't.pcap', TEST_CONTEXT, async (r) => void records.push(r));
  return records;
}

describe('application decoding across segments', () => {
  it('reads a ClientHello split over two segments that arrive out of order', async () => {
    const w = new PcapWriter(1_700_000_000_000_000);
    const client = { mac: '02:00:00:00:00:01', ip: '192.168.1.2' };
    const server = { mac: '02:00:00:00:00:02', ip: '198.51.100.7' };
    const hello = tlsClientHello('split.example.org', Buffer.alloc(32, 1));
    const [SYN, ACK, PSH] = [2, 16, 8];
    w.tcpSegment(client, 50000, server, 443, 100, 0, SYN);
    w.tcpSegment(server, 443, client, 50000, 900, 101, SYN | ACK);
    // Data starts at sequence 101 (ISN 100 + 1); the second half arrives first.
    w.tcpSegment(client, 50000, server, 443, 101 + 40, 901, ACK | PSH, hello.subarray(40));
    w.tcpSegment(client, 50000, server, 443, 101, 901, ACK | PSH, hello.subarray(0, 40));

    const [record] = await probe(w.toBuffer());

    expect(record!.tls).toMatchObject({ sni: 'split.example.org', offeredVersion: 'TLS 1.3' });
  });

  it('recognises a QUIC v1 Initial as encrypted transport', async () => {
    const w = new PcapWriter(1_700_000_000_000_000);
    const client = { mac: '02:00:00:00:00:01', ip: '192.168.1.2' };
    const server = { mac: '02:00:00:00:00:02', ip: '198.51.100.7' };
    // RFC 9001 Appendix A.2 client Initial: long header, version 1, DCID 8394c8f03e515708.
    w.udp(
      client,
      51000,
      server,
      443,
      hex(
        'c300000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399',
      ),
    );

    const [record] = await probe(w.toBuffer());

    expect([record!.application, record!.transport, record!.quic]).toEqual([
      'quic',
      'quic',
      { version: 'QUIC v1' },
    ]);
  });
});
