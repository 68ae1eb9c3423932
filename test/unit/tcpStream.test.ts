import { describe, expect, it } from '@jest/globals';
import { TcpStream } from '../../probe/tcpStream.ts';

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

  it('keeps at most its limit and counts the rest as dropped', () => {
    const stream = new TcpStream(5);
    stream.setInitialSequence(0);

    add(stream, 1, 'abc');
    add(stream, 4, 'defgh');

    expect(runs(stream)).toEqual(['abcde']);
    expect(stream.droppedBytes).toBe(3);
  });
});
