import { once } from 'node:events';
import {
  connect as connectHttp2,
  createServer as createHttp2Server,
  constants as http2Constants,
} from 'node:http2';
import {
  type AddressInfo,
  createServer as createNetServer,
  connect as netConnect,
  type Socket,
} from 'node:net';
import {
  type ConnectionOptions,
  createServer,
  type TLSSocket,
  type TlsOptions,
  connect as tlsConnect,
} from 'node:tls';
import type { Host, PcapWriter } from './pcapWriter.ts';

/**
 * Real TLS conversations for test captures: node's `tls` (OpenSSL) client and server talk through a
 * recording TCP relay on loopback, so the bytes are what a real stack sends; the client's `keylog`
 * event gives the NSS key log. `writeConversation` then lays the bytes out as TCP segments in a
 * pcap, with the segment size, order and timing a test asks for.
 */

/** Bytes one side wrote, in the order the relay saw them. */
export interface Chunk {
  readonly fromClient: boolean;
  readonly data: Buffer;
}

export interface TlsConversationOptions {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  readonly serverName: string;
  /** TLS versions and suites, for both ends (e.g. maxVersion 'TLSv1.2', ciphers 'ECDHE-RSA-AES128-GCM-SHA256'). */
  readonly tls?: Pick<ConnectionOptions, 'minVersion' | 'maxVersion' | 'ciphers' | 'secureOptions'> & {
    readonly ciphersuites?: string;
  };
  readonly alpn?: string[];
  /**
   * What the client does on the connection once it is up: writes requests and waits for answers
   * (the server answers each HTTP/1.1 request with `200 ok`, or runs `serve`).
   */
  readonly talk: (socket: TLSSocket) => Promise<void>;
  /** The server's side; default: answers HTTP/1.1 requests (Content-Length bodies). */
  readonly serve?: (socket: TLSSocket) => void;
}

/** Answers every HTTP/1.1 request on the socket with a short 200 (requests with Content-Length bodies). */
export function serveHttp1(socket: TLSSocket): void {
  let buffered = Buffer.alloc(0);
  socket.on('data', (data: Buffer) => {
    buffered = Buffer.concat([buffered, data]);
    while (true) {
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffered.toString('latin1', 0, end);
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      buffered = buffered.subarray(end + 4 + length);
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok');
    }
  });
}

/** Sends HTTP/1.1 requests one after the other on the socket, each after the previous answer. */
export async function sendHttp1(socket: TLSSocket, requests: readonly Buffer[]): Promise<void> {
  for (const request of requests) {
    socket.write(request);
    let seen = '';
    while (!/\r\n\r\nok/.test(seen)) {
      const [data] = (await once(socket, 'data')) as [Buffer];
      seen += data.toString('latin1');
    }
  }
}

/** An HTTP/1.1 request's bytes. */
export function http1Request(
  method: string,
  host: string,
  path: string,
  body?: string,
  contentType?: string,
) {
  const bodyBytes = body === undefined ? undefined : Buffer.from(body, 'utf8');
  const head = [
    `${method} ${path} HTTP/1.1`,
    `Host: ${host}`,
    'User-Agent: leakwatch-test/1.0',
    ...(bodyBytes ? [`Content-Type: ${contentType ?? 'application/x-www-form-urlencoded'}`] : []),
    ...(bodyBytes ? [`Content-Length: ${bodyBytes.length}`] : []),
    '',
    '',
  ].join('\r\n');
  return bodyBytes ? Buffer.concat([Buffer.from(head, 'latin1'), bodyBytes]) : Buffer.from(head, 'latin1');
}

/** Runs one conversation; returns the bytes each side sent and the client's key log. */
export async function recordTlsConversation(
  options: TlsConversationOptions,
): Promise<{ chunks: Chunk[]; keylog: string }> {
  const chunks: Chunk[] = [];
  const keylog: string[] = [];
  const server = createServer({
    key: options.key,
    cert: options.cert,
    ...(options.tls ?? {}),
    ...(options.alpn ? { ALPNProtocols: options.alpn } : {}),
  } as TlsOptions);
  server.on('secureConnection', (socket) => (options.serve ?? serveHttp1)(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const relay = await recordingRelay((server.address() as AddressInfo).port, chunks);
  try {
    const socket = tlsConnect({
      port: (relay.address() as AddressInfo).port,
      host: '127.0.0.1',
      servername: options.serverName,
      rejectUnauthorized: false,
      ...(options.tls ?? {}),
      ...(options.alpn ? { ALPNProtocols: options.alpn } : {}),
    } as ConnectionOptions);
    socket.on('keylog', (line: Buffer) => keylog.push(line.toString('latin1')));
    await once(socket, 'secureConnect');
    await talkThenClose(socket, options.talk);
  } finally {
    relay.close();
    server.close();
  }
  return { chunks, keylog: keylog.join('') };
}

/** Runs the client's side of the conversation, then ends the connection (unless the talk did). */
async function talkThenClose<S extends Socket>(socket: S, talk: (socket: S) => Promise<void>): Promise<void> {
  await talk(socket);
  if (!socket.closed) {
    socket.end();
    await once(socket, 'close');
  }
}

/** A recording relay on loopback in front of `port`: what each side sent, in the order seen. */
async function recordingRelay(port: number, chunks: Chunk[]) {
  const relay = createNetServer((inbound: Socket) => {
    const outbound = netConnect(port, '127.0.0.1');
    inbound.on('data', (data: Buffer) => {
      chunks.push({ fromClient: true, data: Buffer.from(data) });
      outbound.write(data);
    });
    outbound.on('data', (data: Buffer) => {
      chunks.push({ fromClient: false, data: Buffer.from(data) });
      inbound.write(data);
    });
    inbound.on('end', () => outbound.end());
    outbound.on('end', () => inbound.end());
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  return relay;
}

/** A cleartext TCP conversation (h2c prior knowledge, say) recorded the same way. */
export async function recordTcpConversation(options: {
  readonly talk: (socket: Socket) => Promise<void>;
  readonly serve: (socket: Socket) => void;
}): Promise<{ chunks: Chunk[] }> {
  const chunks: Chunk[] = [];
  const server = createNetServer(options.serve);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const relay = await recordingRelay((server.address() as AddressInfo).port, chunks);
  try {
    const socket = netConnect((relay.address() as AddressInfo).port, '127.0.0.1');
    await once(socket, 'connect');
    await talkThenClose(socket, options.talk);
  } finally {
    relay.close();
    server.close();
  }
  return { chunks };
}

export interface SegmentLayout {
  /** TCP payload bytes per segment (small values split TLS records across segments). @default 1400 */
  readonly mss?: number;
  /** Swap the first two segments of one of the client's chunks after its ClientHello (out-of-order delivery). */
  readonly reorder?: boolean;
}

const SYN = 0x02;
const ACK = 0x10;
const PSH = 0x08;
const FIN = 0x01;

/** Lays a conversation out as one TCP connection in `writer`: handshake, segments with ACKs, FIN. */
export function writeConversation(
  writer: PcapWriter,
  client: Host,
  clientPort: number,
  server: Host,
  serverPort: number,
  chunks: readonly Chunk[],
  isn: number,
  layout: SegmentLayout = {},
): void {
  const mss = layout.mss ?? 1400;
  let c = isn >>> 0;
  let s = (isn * 7 + 12345) >>> 0;
  writer.tcpSegment(client, clientPort, server, serverPort, c, 0, SYN);
  writer.tcpSegment(server, serverPort, client, clientPort, s, c + 1, SYN | ACK);
  c = (c + 1) >>> 0;
  s = (s + 1) >>> 0;
  writer.tcpSegment(client, clientPort, server, serverPort, c, s, ACK);
  // Reordering: the first two segments of one client chunk (after the ClientHello) are swapped
  // on the wire, as a network that delays one packet does; the server's segments stay in place.
  let reordered = !layout.reorder;
  let clientChunks = 0;
  for (const chunk of chunks) {
    const swap = chunk.fromClient && !reordered && clientChunks++ > 0 && chunk.data.length > mss;
    if (swap) reordered = true;
    let held: (() => void) | undefined;
    for (let offset = 0; offset < chunk.data.length; offset += mss) {
      const part = chunk.data.subarray(offset, offset + mss);
      if (chunk.fromClient) {
        const seq = c;
        const ack = s;
        const send = () =>
          writer.tcpSegment(client, clientPort, server, serverPort, seq, ack, ACK | PSH, part);
        if (swap && offset === 0) held = send;
        else {
          send();
          held?.();
          held = undefined;
        }
        c = (c + part.length) >>> 0;
      } else {
        writer.tcpSegment(server, serverPort, client, clientPort, s, c, ACK | PSH, part);
        s = (s + part.length) >>> 0;
      }
    }
    writer.wait(2_000);
  }
  writer.tcpSegment(client, clientPort, server, serverPort, c, s, FIN | ACK);
  writer.tcpSegment(server, serverPort, client, clientPort, s, (c + 1) >>> 0, FIN | ACK);
  writer.tcpSegment(client, clientPort, server, serverPort, (c + 1) >>> 0, (s + 1) >>> 0, ACK);
}

/** Answers every HTTP/2 request on the (already connected) socket with a short 200, node's http2 server. */
export function serveHttp2(socket: Socket): void {
  const server = createHttp2Server();
  server.on('stream', (stream) => {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end('ok');
    });
  });
  server.emit('connection', socket);
}

export interface Http2RequestSpec {
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
}

/**
 * Sends HTTP/2 requests one after the other on the socket (node's http2 client: nghttp2's framing,
 * HPACK with Huffman and the dynamic table), each after the previous answer, then closes the session.
 */
export async function sendHttp2(
  socket: Socket,
  authority: string,
  requests: readonly Http2RequestSpec[],
  options: { readonly padding?: boolean } = {},
): Promise<void> {
  const session = connectHttp2(authority, {
    createConnection: () => socket,
    ...(options.padding ? { paddingStrategy: http2Constants.PADDING_STRATEGY_MAX } : {}),
  });
  for (const request of requests) {
    const stream = session.request(request.headers, { endStream: request.body === undefined });
    if (request.body !== undefined) stream.end(request.body);
    stream.on('data', () => undefined);
    await once(stream, 'close');
  }
  session.close();
  await once(session, 'close');
}
