import { gzipSync } from 'node:zlib';
import { describe, expect, it } from '@jest/globals';
import type { CapturedPacket } from '../../probe/capture/capturedPacket.ts';
import { readCapture } from '../../probe/capture/openCapture.ts';
import { CaptureFormatError } from '../../probe/errors.ts';
import { chunksOf } from '../helpers/scenario.ts';

/** A classic pcap file (draft-ietf-opsawg-pcap §4 header, §5 records) in either byte order. */
function pcap(
  options: { littleEndian: boolean; nanosecond: boolean; linkType?: number },
  packets: Buffer[],
): Buffer {
  const header = Buffer.alloc(24);
  const w32 = (b: Buffer, v: number, o: number) =>
    options.littleEndian ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o);
  w32(header, options.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w32(header, 65535, 16);
  w32(header, options.linkType ?? 1, 20);
  const records = packets.map((data, i) => {
    const h = Buffer.alloc(16);
    w32(h, 1_400_000_000 + i, 0);
    w32(h, options.nanosecond ? 123_456_789 : 123_456, 4);
    w32(h, data.length, 8);
    w32(h, data.length, 12);
    return Buffer.concat([h, data]);
  });
  return Buffer.concat([header, ...records]);
}

/** A pcapng block (draft-ietf-opsawg-pcapng §3.1): type, total length, body padded to 4, total length. */
function block(type: number, body: Buffer, littleEndian = true): Buffer {
  const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
  const head = Buffer.alloc(8);
  const tail = Buffer.alloc(4);
  const length = padded.length + 12;
  if (littleEndian) {
    head.writeUInt32LE(type, 0);
    head.writeUInt32LE(length, 4);
    tail.writeUInt32LE(length, 0);
  } else {
    head.writeUInt32BE(type, 0);
    head.writeUInt32BE(length, 4);
    tail.writeUInt32BE(length, 0);
  }
  return Buffer.concat([head, padded, tail]);
}

function pcapng(littleEndian: boolean): Buffer {
  const u16 = (v: number) => {
    const b = Buffer.alloc(2);
    littleEndian ? b.writeUInt16LE(v) : b.writeUInt16BE(v);
    return b;
  };
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    littleEndian ? b.writeUInt32LE(v) : b.writeUInt32BE(v);
    return b;
  };
  const shb = block(
    0x0a0d0d0a,
    Buffer.concat([u32(0x1a2b3c4d), u16(1), u16(0), Buffer.alloc(8, 0xff)]),
    littleEndian,
  );
  // Interface 0: Ethernet, microseconds (default). Interface 1: raw IP, nanoseconds (if_tsresol = 9).
  const idb0 = block(1, Buffer.concat([u16(1), u16(0), u32(65535)]), littleEndian);
  const tsresol = Buffer.concat([u16(9), u16(1), Buffer.from([9, 0, 0, 0]), u16(0), u16(0)]);
  const idb1 = block(1, Buffer.concat([u16(101), u16(0), u32(65535), tsresol]), littleEndian);
  const epb = (iface: number, units: bigint, data: Buffer) =>
    block(
      6,
      Buffer.concat([
        u32(iface),
        u32(Number(units >> 32n)),
        u32(Number(units & 0xffffffffn)),
        u32(data.length),
        u32(data.length),
        data,
      ]),
      littleEndian,
    );
  const spb = block(3, Buffer.concat([u32(5), Buffer.from('simpl')]), littleEndian);
  const nameResolution = block(4, Buffer.alloc(4), littleEndian);
  return Buffer.concat([
    shb,
    idb0,
    idb1,
    epb(0, 1_400_000_000_123_456n, Buffer.from('on-eth')),
    nameResolution,
    epb(1, 1_400_000_000_123_456_789n, Buffer.from('on-raw')),
    spb,
  ]);
}

async function readAll(bytes: Buffer, chunkSize?: number) {
  const packets: (Pick<
    CapturedPacket,
    'timestampMicros' | 'capturedLength' | 'originalLength' | 'linkType' | 'fileOffset'
  > & { text: string })[] = [];
  const result = await readCapture(chunksOf(bytes, chunkSize), 'test', {
    onPacket: (packet) =>
      packets.push({
        timestampMicros: packet.timestampMicros,
        capturedLength: packet.capturedLength,
        originalLength: packet.originalLength,
        linkType: packet.linkType,
        fileOffset: packet.fileOffset,
        text: packet.data.toString(),
      }),
    afterChunk: async () => undefined,
  });
  return { result, packets };
}

describe('readCapture: classic pcap', () => {
  it.each([
    [true, false],
    [false, false],
    [true, true],
    [false, true],
  ])('reads little-endian=%s nanosecond=%s files in 7-byte chunks', async (littleEndian, nanosecond) => {
    const file = pcap({ littleEndian, nanosecond }, [Buffer.from('first'), Buffer.from('second packet')]);

    const { result, packets } = await readAll(file, 7);

    expect(result).toMatchObject({ format: 'pcap', compressed: false, truncatedTailBytes: 0 });
    expect(packets.map((p) => p.text)).toEqual(['first', 'second packet']);
    expect(packets[0]!.timestampMicros).toBe(1_400_000_000 * 1_000_000 + 123_456);
    expect(packets[1]).toMatchObject({ fileOffset: 24 + 16 + 5, linkType: 1 });
  });

  it('reports a final record cut short instead of throwing', async () => {
    const file = pcap({ littleEndian: true, nanosecond: false }, [
      Buffer.from('whole'),
      Buffer.from('cut off here'),
    ]);

    const { result, packets } = await readAll(file.subarray(0, file.length - 4));

    expect(packets).toHaveLength(1);
    expect(result.truncatedTailBytes).toBe(16 + 8);
  });

  it('reads gzip-compressed captures', async () => {
    const file = pcap({ littleEndian: true, nanosecond: false }, [Buffer.from('zipped')]);

    const { result, packets } = await readAll(gzipSync(file), 10);

    expect(result).toMatchObject({ format: 'pcap', compressed: true });
    expect(packets.map((p) => p.text)).toEqual(['zipped']);
  });

  it('names a bad magic number and where it is', async () => {
    await expect(readAll(Buffer.alloc(24, 0x41))).rejects.toThrow(
      new CaptureFormatError(
        'test: not a capture file: magic number 0x41414141 at offset 0 is neither pcap (a1b2c3d4, a1b23c4d, either byte order) nor pcapng (0a0d0d0a)',
      ),
    );
  });

  it('rejects a file shorter than its header, and a corrupt gzip stream', async () => {
    await expect(
      readAll(pcap({ littleEndian: true, nanosecond: false }, []).subarray(0, 10)),
    ).rejects.toThrow('test: pcap file header cut short: 10 of 24 bytes');
    await expect(
      readAll(Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(20, 7)])),
    ).rejects.toThrow(/gzip stream is corrupt/);
  });

  it('fails on an impossible record length with the byte offset', async () => {
    const badRecordHeader = Buffer.alloc(16);
    badRecordHeader.writeUInt32LE(10_000_000, 8);
    const corrupt = Buffer.concat([
      pcap({ littleEndian: true, nanosecond: false }, [Buffer.from('ok')]),
      badRecordHeader,
    ]);

    await expect(readAll(corrupt)).rejects.toThrow('corrupt packet record at byte 42');
  });
});

describe('readCapture: pcapng', () => {
  it.each([true, false])(
    'reads interfaces, EPB and SPB with per-interface link type and resolution (little-endian=%s)',
    async (littleEndian) => {
      const { result, packets } = await readAll(pcapng(littleEndian), 5);

      expect(result.format).toBe('pcapng');
      expect(packets.map((p) => [p.text, p.linkType, p.timestampMicros])).toEqual([
        ['on-eth', 1, 1_400_000_000_123_456],
        ['on-raw', 101, 1_400_000_000_123_456],
        ['simpl', 1, 0],
      ]);
    },
  );

  it('names a packet block that refers to an undescribed interface', async () => {
    const file = pcapng(true);
    const shbLength = file.readUInt32LE(4);
    const idbLength = file.readUInt32LE(shbLength + 4);
    const withoutInterfaces = Buffer.concat([
      file.subarray(0, shbLength),
      file.subarray(shbLength + idbLength + file.readUInt32LE(shbLength + idbLength + 4)),
    ]);

    await expect(readAll(withoutInterfaces)).rejects.toThrow(
      /corrupt pcapng block at byte \d+: packet names interface 0, but only 0 are described/,
    );
  });

  it('rejects a block whose trailing length differs', async () => {
    const file = pcapng(true);
    file.writeUInt32LE(999, file.readUInt32LE(4) - 4);

    await expect(readAll(file)).rejects.toThrow(
      'test: corrupt pcapng block at byte 0: leading length 28 and trailing length 999 differ',
    );
  });
});
