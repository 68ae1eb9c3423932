/**
 * QUIC long-header packets (RFC 9000 §17.2): header form and fixed bits set, then a 32-bit version.
 * An Initial packet's payload is encrypted with keys from its Destination Connection ID; leakwatch
 * only recognises QUIC (an encrypted transport), it does not decrypt the Initial to read the SNI.
 */
const KNOWN_VERSIONS = new Set([0x00000001, 0x6b3343cf]); // QUIC v1 (RFC 9000), v2 (RFC 9369)

export interface QuicLongHeader {
  readonly version: string;
  /** Initial packet type (0 in v1, 1 in v2). */
  readonly initial: boolean;
}

export function parseQuicLongHeader(datagram: Buffer): QuicLongHeader | null {
  if (datagram.length < 7) return null;
  const first = datagram[0]!;
  if ((first & 0xc0) !== 0xc0) return null;
  const version = datagram.readUInt32BE(1);
  const draft = version >>> 8 === 0xff0000;
  if (!KNOWN_VERSIONS.has(version) && !draft) return null;
  const type = (first & 0x30) >> 4;
  const initial = version === 0x6b3343cf ? type === 1 : type === 0;
  const name =
    version === 1 ? 'QUIC v1' : version === 0x6b3343cf ? 'QUIC v2' : `QUIC draft-${version & 0xff}`;
  return { version: name, initial };
}
