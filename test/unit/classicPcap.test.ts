import { describe, expect, it } from '@jest/globals';
import { readClassicPcap } from '../../probe/capture/classicPcap.ts';
import { CaptureFormatError } from '../../probe/errors.ts';
import { chunksOf } from '../helpers/scenario.ts';

/** Builds a pcap file header (draft-ietf-opsawg-pcap §4) and records (§5) in either byte order. */
function pcap(
  options: { littleEndian: boolean; nanosecond: boolean; linkType?: number },
  packets: Buffer[],
): Buffer {
  const header = Buffer.alloc(24);
  const magic = options.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4;
  const w32 = (b: Buffer, v: number, o: number) =>
    options.littleEndian ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o);
  w32(header, magic, 0);
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

async function readAll(bytes: Buffer, chunkSize?: number) {
  const { header, packets } = await readClassicPcap(chunksOf(bytes, chunkSize), 'test.pcap');
  const list = [];
  let next = await packets.next();
  while (!next.done) {
    list.push(next.value);
    next = await packets.next();
  }
  return { header, list, trailer: next.value };
}

describe('readClassicPcap', () => {
  it.each([
    [true, false],
    [false, false],
    [true, true],
    [false, true],
  ])('reads little-endian=%s nanosecond=%s files in 7-byte chunks', async (littleEndian, nanosecond) => {
    const file = pcap({ littleEndian, nanosecond }, [Buffer.from('first'), Buffer.from('second packet')]);

    const { header, list, trailer } = await readAll(file, 7);

    expect(header).toMatchObject({ littleEndian, nanosecond, linkType: 1, snapLength: 65535 });
    expect(list.map((p) => p.data.toString())).toEqual(['first', 'second packet']);
    expect(list[0]!.timestampMicros).toBe(1_400_000_000 * 1_000_000 + 123_456);
    expect(list[1]!.fileOffset).toBe(24 + 16 + 5);
    expect(trailer.truncatedTailBytes).toBe(0);
  });

  it('reports a final record cut short instead of throwing', async () => {
    const file = pcap({ littleEndian: true, nanosecond: false }, [
      Buffer.from('whole'),
      Buffer.from('cut off here'),
    ]);

    const { list, trailer } = await readAll(file.subarray(0, file.length - 4));

    expect(list).toHaveLength(1);
    expect(trailer.truncatedTailBytes).toBe(16 + 8);
  });

  it('names a bad magic number and where it is', async () => {
    const file = Buffer.alloc(24, 0x41);

    await expect(readClassicPcap(chunksOf(file), 'notes.txt')).rejects.toThrow(
      new CaptureFormatError(
        'notes.txt: not a pcap file: magic number 0x41414141 at offset 0 is not a pcap magic (a1b2c3d4 or a1b23c4d, either byte order)',
      ),
    );
  });

  it('says what to do with a pcapng file', async () => {
    const file = Buffer.concat([Buffer.from([0x0a, 0x0d, 0x0d, 0x0a]), Buffer.alloc(20)]);

    await expect(readClassicPcap(chunksOf(file), 'x.pcapng')).rejects.toThrow(/pcapng file.*editcap -F pcap/);
  });

  it('rejects a file shorter than its header', async () => {
    await expect(readClassicPcap(chunksOf(Buffer.alloc(10)), 'short.pcap')).rejects.toThrow(
      'short.pcap: not a pcap file: 10 bytes, shorter than the 24-byte pcap file header',
    );
  });

  it('fails on an impossible record length with the byte offset', async () => {
    const file = pcap({ littleEndian: true, nanosecond: false }, [Buffer.from('ok')]);
    const badRecordHeader = Buffer.alloc(16);
    badRecordHeader.writeUInt32LE(10_000_000, 8); // captured length
    const corrupt = Buffer.concat([file, badRecordHeader]);

    await expect(readAll(corrupt)).rejects.toThrow('corrupt packet record at byte 42');
  });
});
