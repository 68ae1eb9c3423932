/**
 * Writes classic pcap files (draft-ietf-opsawg-pcap §4–5: microsecond, little-endian, LINKTYPE_ETHERNET)
 * of synthetic but well-formed Ethernet/IPv4/TCP/UDP traffic: handshakes, data segmented at the MSS,
 * ACKs and FIN teardown, with valid checksums, so tshark and Zeek read the files as they read real ones.
 */
const LINKTYPE_ETHERNET = 1;
const MSS = 1400;

/** Internet checksum (RFC 1071) over the concatenated parts. */
function checksum(...parts: Buffer[]): number {
  let sum = 0;
  for (const part of parts) {
    for (let i = 0; i < part.length; i += 2) sum += (part[i]! << 8) | (part[i + 1] ?? 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const ipBytes = (ip: string) => Buffer.from(ip.split('.').map(Number));

export interface Host {
  readonly mac: string;
  readonly ip: string;
}

/** IPv4 pseudo-header for TCP/UDP checksums (RFC 9293 §3.1, RFC 768). */
function pseudoHeader(from: Host, to: Host, protocol: number, length: number): Buffer {
  const pseudo = Buffer.alloc(12);
  ipBytes(from.ip).copy(pseudo, 0);
  ipBytes(to.ip).copy(pseudo, 4);
  pseudo[9] = protocol;
  pseudo.writeUInt16BE(length, 10);
  return pseudo;
}

/** An Ethernet II frame carrying an IPv4 packet (DF set, TTL 64, header checksum) with `transport`. */
export function ethernetIpv4Frame(
  from: Host,
  to: Host,
  protocol: number,
  transport: Buffer,
  ipId: number,
): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + transport.length, 2);
  ip.writeUInt16BE(ipId & 0xffff, 4);
  ip.writeUInt16BE(0x4000, 6); // don't fragment
  ip[8] = 64;
  ip[9] = protocol;
  ipBytes(from.ip).copy(ip, 12);
  ipBytes(to.ip).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  const ethernet = Buffer.concat([
    Buffer.from(to.mac.replace(/:/g, ''), 'hex'),
    Buffer.from(from.mac.replace(/:/g, ''), 'hex'),
    Buffer.from([0x08, 0x00]),
  ]);
  return Buffer.concat([ethernet, ip, transport]);
}

/** A UDP datagram (header with checksum, then payload). */
export function udpDatagram(from: Host, fromPort: number, to: Host, toPort: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16BE(fromPort, 0);
  header.writeUInt16BE(toPort, 2);
  header.writeUInt16BE(8 + payload.length, 4);
  const sum = checksum(pseudoHeader(from, to, 17, 8 + payload.length), header, payload);
  header.writeUInt16BE(sum === 0 ? 0xffff : sum, 6);
  return Buffer.concat([header, payload]);
}

/** A TCP segment (20-byte header with checksum, then payload). */
export function tcpSegmentBytes(
  from: Host,
  fromPort: number,
  to: Host,
  toPort: number,
  seq: number,
  ack: number,
  flags: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt16BE(fromPort, 0);
  header.writeUInt16BE(toPort, 2);
  header.writeUInt32BE(seq >>> 0, 4);
  header.writeUInt32BE(ack >>> 0, 8);
  header[12] = 5 << 4;
  header[13] = flags;
  header.writeUInt16BE(65535, 14);
  header.writeUInt16BE(checksum(pseudoHeader(from, to, 6, 20 + payload.length), header, payload), 16);
  return Buffer.concat([header, payload]);
}

export class PcapWriter {
  private readonly records: Buffer[] = [];
  private ipId = 1;
  constructor(private timeMicros: number) {}

  /** Advances capture time. */
  wait(micros: number): void {
    this.timeMicros += micros;
  }

  private frame(from: Host, to: Host, protocol: number, transport: Buffer): void {
    this.record(ethernetIpv4Frame(from, to, protocol, transport, this.ipId++), 150);
  }

  /** A frame as given (hand-made packets: fragments, malformed headers). */
  rawFrame(data: Buffer): void {
    this.record(data, 10);
  }

  /** A pcap record of `data` at the current time, which then advances by `gapMicros`. */
  private record(data: Buffer, gapMicros: number): void {
    const header = Buffer.alloc(16);
    header.writeUInt32LE(Math.floor(this.timeMicros / 1_000_000), 0);
    header.writeUInt32LE(this.timeMicros % 1_000_000, 4);
    header.writeUInt32LE(data.length, 8);
    header.writeUInt32LE(data.length, 12);
    this.records.push(header, data);
    this.timeMicros += gapMicros;
  }

  udp(from: Host, fromPort: number, to: Host, toPort: number, payload: Buffer): void {
    this.frame(from, to, 17, udpDatagram(from, fromPort, to, toPort, payload));
  }

  tcpSegment(
    from: Host,
    fromPort: number,
    to: Host,
    toPort: number,
    seq: number,
    ack: number,
    flags: number,
    payload: Buffer = Buffer.alloc(0),
  ): void {
    this.frame(from, to, 6, tcpSegmentBytes(from, fromPort, to, toPort, seq, ack, flags, payload));
  }

  /**
   * A whole TCP connection: three-way handshake, the client's bytes (segmented at the MSS and
   * ACKed), the server's reply, and FIN/ACK teardown from the client.
   */
  tcpConversation(
    client: Host,
    clientPort: number,
    server: Host,
    serverPort: number,
    request: Buffer,
    response: Buffer,
    isn: number,
  ): void {
    const SYN = 0x02;
    const ACK = 0x10;
    const PSH = 0x08;
    const FIN = 0x01;
    const serverIsn = (isn * 7 + 12345) >>> 0;
    let c = isn >>> 0;
    let s = serverIsn;
    this.tcpSegment(client, clientPort, server, serverPort, c, 0, SYN);
    this.tcpSegment(server, serverPort, client, clientPort, s, c + 1, SYN | ACK);
    c += 1;
    s += 1;
    this.tcpSegment(client, clientPort, server, serverPort, c, s, ACK);
    for (let offset = 0; offset < request.length; offset += MSS) {
      const part = request.subarray(offset, offset + MSS);
      this.tcpSegment(client, clientPort, server, serverPort, c, s, ACK | PSH, part);
      c += part.length;
      this.tcpSegment(server, serverPort, client, clientPort, s, c, ACK);
    }
    this.wait(20_000);
    for (let offset = 0; offset < response.length; offset += MSS) {
      const part = response.subarray(offset, offset + MSS);
      this.tcpSegment(server, serverPort, client, clientPort, s, c, ACK | PSH, part);
      s += part.length;
    }
    this.tcpSegment(client, clientPort, server, serverPort, c, s, ACK);
    this.tcpSegment(client, clientPort, server, serverPort, c, s, FIN | ACK);
    this.tcpSegment(server, serverPort, client, clientPort, s, c + 1, FIN | ACK);
    this.tcpSegment(client, clientPort, server, serverPort, c + 1, s + 1, ACK);
  }

  toBuffer(): Buffer {
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b2c3d4, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(65535, 16);
    header.writeUInt32LE(LINKTYPE_ETHERNET, 20);
    return Buffer.concat([header, ...this.records]);
  }

  /**
   * The same packets as pcapng (draft-ietf-opsawg-pcapng): a Section Header (§4.1), one Ethernet
   * Interface Description (§4.2, microsecond timestamps), then, when `keyLog` is given, a Decryption
   * Secrets Block of type TLSK holding it (§4.7, as `editcap --inject-secrets` writes), then one
   * Enhanced Packet Block per packet (§4.3). Little-endian.
   */
  toPcapng(keyLog?: string): Buffer {
    const block = pcapngBlock;
    const section = Buffer.alloc(16);
    section.writeUInt32LE(0x1a2b3c4d, 0);
    section.writeUInt16LE(1, 4);
    section.writeUInt16LE(0, 6);
    section.writeBigInt64LE(-1n, 8); // section length not given
    const iface = Buffer.alloc(8);
    iface.writeUInt16LE(LINKTYPE_ETHERNET, 0);
    iface.writeUInt32LE(65535, 4);
    const blocks = [block(0x0a0d0d0a, section), block(1, iface)];
    if (keyLog !== undefined) {
      const secrets = Buffer.from(keyLog, 'latin1');
      const head = Buffer.alloc(8);
      head.writeUInt32LE(0x544c534b, 0); // 'TLSK'
      head.writeUInt32LE(secrets.length, 4);
      blocks.push(block(0x0a, Buffer.concat([head, secrets])));
    }
    for (let i = 0; i < this.records.length; i += 2) {
      const header = this.records[i]!;
      const data = this.records[i + 1]!;
      const micros = BigInt(header.readUInt32LE(0)) * 1_000_000n + BigInt(header.readUInt32LE(4));
      const epb = Buffer.alloc(20);
      epb.writeUInt32LE(0, 0);
      epb.writeUInt32LE(Number(micros >> 32n), 4);
      epb.writeUInt32LE(Number(micros & 0xffffffffn), 8);
      epb.writeUInt32LE(data.length, 12);
      epb.writeUInt32LE(data.length, 16);
      blocks.push(block(6, Buffer.concat([epb, data])));
    }
    return Buffer.concat(blocks);
  }
}

/** A little-endian pcapng block (§3.1): type, total length, body padded to 32 bits, total length. */
export function pcapngBlock(type: number, body: Buffer): Buffer {
  const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
  const out = Buffer.alloc(12 + padded.length);
  out.writeUInt32LE(type, 0);
  out.writeUInt32LE(out.length, 4);
  padded.copy(out, 8);
  out.writeUInt32LE(out.length, out.length - 4);
  return out;
}

/** A DNS query or response (RFC 1035 §4.1) for one name, with A answers and an optional CNAME. */
export function dnsMessage(
  id: number,
  name: string,
  answers?: { cname?: string; addresses: string[] },
): Buffer {
  const encodeName = (n: string) =>
    Buffer.concat([
      ...n.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])),
      Buffer.from([0]),
    ]);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(answers ? 0x8180 : 0x0100, 2);
  header.writeUInt16BE(1, 4);
  const records: Buffer[] = [];
  if (answers) {
    let owner = Buffer.from([0xc0, 12]); // pointer to the question name
    if (answers.cname) {
      const target = encodeName(answers.cname);
      const rr = Buffer.alloc(10);
      rr.writeUInt16BE(5, 0);
      rr.writeUInt16BE(1, 2);
      rr.writeUInt32BE(300, 4);
      rr.writeUInt16BE(target.length, 8);
      records.push(owner, rr, target);
      owner = encodeName(answers.cname);
    }
    for (const address of answers.addresses) {
      const rr = Buffer.alloc(10);
      rr.writeUInt16BE(1, 0);
      rr.writeUInt16BE(1, 2);
      rr.writeUInt32BE(300, 4);
      rr.writeUInt16BE(4, 8);
      records.push(owner, rr, ipBytes(address));
    }
    header.writeUInt16BE((answers.cname ? 1 : 0) + answers.addresses.length, 6);
  }
  const question = Buffer.concat([encodeName(name), Buffer.from([0, 1, 0, 1])]);
  return Buffer.concat([header, question, ...records]);
}

/** A TLS 1.2-framed ClientHello offering TLS 1.3 and 1.2, with server_name and ALPN. */
export function tlsClientHello(serverName: string, random: Buffer): Buffer {
  const ext = (type: number, data: Buffer) => {
    const head = Buffer.alloc(4);
    head.writeUInt16BE(type, 0);
    head.writeUInt16BE(data.length, 2);
    return Buffer.concat([head, data]);
  };
  const name = Buffer.from(serverName);
  const sniList = Buffer.alloc(5);
  sniList.writeUInt16BE(name.length + 3, 0);
  sniList[2] = 0;
  sniList.writeUInt16BE(name.length, 3);
  const alpnProtocols = Buffer.concat([Buffer.from([8]), Buffer.from('http/1.1')]);
  const alpnLength = Buffer.alloc(2);
  alpnLength.writeUInt16BE(alpnProtocols.length, 0);
  const extensions = Buffer.concat([
    ext(0, Buffer.concat([sniList, name])),
    ext(16, Buffer.concat([alpnLength, alpnProtocols])),
    ext(43, Buffer.from([4, 0x03, 0x04, 0x03, 0x03])),
  ]);
  const extensionsLength = Buffer.alloc(2);
  extensionsLength.writeUInt16BE(extensions.length, 0);
  const body = Buffer.concat([
    Buffer.from([0x03, 0x03]),
    random.subarray(0, 32),
    Buffer.from([0]), // session id
    Buffer.from([0x00, 0x04, 0x13, 0x01, 0xc0, 0x2f]), // two cipher suites
    Buffer.from([0x01, 0x00]), // null compression
    extensionsLength,
    extensions,
  ]);
  const handshake = Buffer.concat([
    Buffer.from([1, (body.length >> 16) & 0xff, (body.length >> 8) & 0xff, body.length & 0xff]),
    body,
  ]);
  const record = Buffer.alloc(5);
  record[0] = 22;
  record.writeUInt16BE(0x0301, 1);
  record.writeUInt16BE(handshake.length, 3);
  return Buffer.concat([record, handshake]);
}
