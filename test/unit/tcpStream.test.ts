import { describe, expect, it } from '@jest/globals';
import { SEGMENT_OVERHEAD_BYTES, TcpStream } from '../../probe/tcpStream.ts';

const add = (stream: TcpStream, sequence: number, text: string) => {
  const bytes = Buffer.from(text);
  stream.add(sequence, bytes, 0, bytes.length);
};
const runs = (stream: TcpStream) => stream.assemble().runs.map((r) => r.toString());

describe('TcpStream reassembly', () => {
  it('puts out-of-order segments back in order from the SYN', () => {
    const stream = new TcpStream(1000);
    stream.setInitialSequence(99);

    add(stream, 106, 'world');
    add(stream, 100, 'hello ');

    expect(runs(stream)).toEqual(['hello world']);
  });

  it('uses retransmitted and overlapping bytes once, keeping the first copy', () => {
    const stream = new TcpStream(1000);
    stream.setInitialSequence(0);

    add(stream, 1, 'abcdef');
    add(stream, 1, 'abcdef'); // retransmission
    add(stream, 4, 'DEFghi'); // overlap: 'def' was already there

    expect(runs(stream)).toEqual(['abcdefghi']);
  });

  it('marks a gap and keeps the bytes after it as a new run', () => {
    const stream = new TcpStream(1000);
    stream.setInitialSequence(0);

    add(stream, 1, 'head');
    add(stream, 15, 'tail');

    expect(stream.assemble()).toEqual({
      runs: [Buffer.from('head'), Buffer.from('tail')],
      gaps: 1,
      gapBytes: 10,
    });
  });

  it('handles sequence numbers wrapping past 2^32', () => {
    const stream = new TcpStream(1000);
    stream.setInitialSequence(0xfffffffd);

    add(stream, 0xfffffffe, 'ab');
    add(stream, 0, 'cd');

    expect(runs(stream)).toEqual(['abcd']);
  });

  it('keeps at most its limit (each segment charged for its bookkeeping) and counts the rest as dropped', () => {
    const stream = new TcpStream(SEGMENT_OVERHEAD_BYTES + 5);
    stream.setInitialSequence(0);

    add(stream, 1, 'abc');
    add(stream, 4, 'defgh'); // in order: grows the first segment, no new one
    add(stream, 20, 'xyz'); // after a gap: a segment of its own, no room left for it

    expect(runs(stream)).toEqual(['abcde']);
    expect(stream.droppedBytes).toBe(3 + 3);
  });

  it('a stream of one-byte segments costs time and memory linear in its bytes (issue 20)', () => {
    // In order: one growing buffer; with holes (the first byte never comes): a segment each,
    // charged its bookkeeping, so the limit bounds memory; head() does not scan them.
    const inOrder = new TcpStream(1 << 20);
    const gapped = new TcpStream(1 << 20);
    inOrder.setInitialSequence(0);
    gapped.setInitialSequence(0);
    let heads = 0;
    for (let i = 0; i < 200_000; i++) {
      add(inOrder, 1 + i, 'a');
      add(gapped, 2 + 2 * i, 'a'); // every other byte missing: a segment each
      if (gapped.head() !== null) heads++;
    }
    expect(heads).toBe(0);
    expect(inOrder.bufferedBytes).toBe(200_000 + SEGMENT_OVERHEAD_BYTES);
    expect(runs(inOrder)).toEqual(['a'.repeat(200_000)]);
    const segments = Math.floor((1 << 20) / (SEGMENT_OVERHEAD_BYTES + 1));
    expect(gapped.bufferedBytes).toBe(segments * (SEGMENT_OVERHEAD_BYTES + 1));
    expect(gapped.droppedBytes).toBe(200_000 - segments);
    expect(gapped.assemble()).toMatchObject({ gaps: segments, gapBytes: segments });
  });
});
