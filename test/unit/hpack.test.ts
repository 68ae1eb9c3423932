import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  HpackDecoder,
  HpackError,
  huffmanDecode,
  MAX_DYNAMIC_TABLE_BYTES,
  MAX_HEADER_LIST_BYTES,
} from '../../probe/decode/hpack.ts';
import { projectRoot } from '../helpers/scenario.ts';

const decodeAll = (blocks: string[]) => {
  const decoder = new HpackDecoder();
  return blocks.map((hex) => decoder.decode(Buffer.from(hex, 'hex')).fields);
};

describe('HPACK decoder (RFC 7541)', () => {
  it('decodes the RFC 7541 Appendix C.3 requests (no Huffman) and C.4 (Huffman) with one dynamic table each', () => {
    const first = [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ];
    const second = [...first, ['cache-control', 'no-cache']];
    const third = [
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ];
    // C.3.1-C.3.3
    expect(
      decodeAll([
        '828684410f7777772e6578616d706c652e636f6d',
        '828684be58086e6f2d6361636865',
        '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565',
      ]),
    ).toEqual([first, second, third]);
    // C.4.1-C.4.3
    expect(
      decodeAll([
        '828684418cf1e3c2e5f23a6ba0ab90f4ff',
        '828684be5886a8eb10649cbf',
        '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf',
      ]),
    ).toEqual([first, second, third]);
  });

  it('decodes what an independent encoder (python-hpack) wrote: 60 connections, Huffman or not, table size updates, never-indexed fields', () => {
    const vectors: {
      sequences: { blocks: { hex: string; headers: [string, string][] }[] }[];
    } = JSON.parse(
      readFileSync(join(projectRoot, 'test', 'fixtures', 'hpack', 'python-hpack-vectors.json'), 'utf8'),
    );
    expect(vectors.sequences.length).toBe(60);
    // The decoder keeps octets as latin1 text; python-hpack wrote its str values as UTF-8.
    const octets = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
    for (const sequence of vectors.sequences) {
      const decoder = new HpackDecoder();
      for (const block of sequence.blocks)
        expect(decoder.decode(Buffer.from(block.hex, 'hex')).fields).toEqual(
          block.headers.map(([name, value]) => [octets(name), octets(value)]),
        );
    }
  });

  it('refuses what RFC 7541 forbids with an HpackError, never another exception', () => {
    const fails = (hex: string, why: RegExp) => {
      expect(() => new HpackDecoder().decode(Buffer.from(hex, 'hex'))).toThrow(HpackError);
      expect(() => new HpackDecoder().decode(Buffer.from(hex, 'hex'))).toThrow(why);
    };
    fails('80', /index 0/); // indexed field 0 (§6.1)
    fails('be', /beyond the dynamic table/); // index 62 with an empty dynamic table
    fails('3fe1ff04', /table size update/); // a size update to 81,920 bytes, over the cap
    fails('ffffffffffffff', /integer too large/);
    fails('4005616263', /runs past the block/); // a 5-byte name with 3 bytes left
    fails('0084ffffffff', /EOS/); // a Huffman name of 32 one bits holds EOS (§5.2)
    fails('008100', /Huffman/); // padding of zeros, not ones
    expect(() => huffmanDecode(Buffer.from('ffff', 'hex'))).toThrow(/padding/); // 16 bits of padding
    expect(MAX_DYNAMIC_TABLE_BYTES).toBe(64 * 1024);
  });

  it('cuts a block whose references decode to more than MAX_HEADER_LIST_BYTES (an HPACK bomb)', () => {
    // One 4,000-byte value added to the table, then referenced 1,000 times (4 MB if decoded whole).
    const value = 'v'.repeat(4000);
    const literal = Buffer.concat([
      Buffer.from([0x40, 0x01, 0x78, 0x7f]), // literal, indexed; name 'x'; value length 127 + …
      Buffer.from([0xa1, 0x1e]), // … 3,873 = 0x21 + 30 × 128 (§5.1)
      Buffer.from(value),
    ]);
    const block = Buffer.concat([literal, Buffer.alloc(1000, 0xbe)]); // 0xbe: index 62, the new entry
    const { fields, truncated } = new HpackDecoder().decode(block);
    expect(truncated).toBe(true);
    expect(fields.reduce((n, [name, v]) => n + name.length + v.length, 0)).toBeLessThanOrEqual(
      MAX_HEADER_LIST_BYTES,
    );
    expect(fields[0]).toEqual(['x', value]);
  });

  it('on any bytes, decodes or throws HpackError (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 6 }), (blocks) => {
        const decoder = new HpackDecoder();
        for (const block of blocks) {
          try {
            decoder.decode(Buffer.from(block));
          } catch (error) {
            if (!(error instanceof HpackError)) throw error;
          }
        }
      }),
      { numRuns: 2000, seed: 20261202 },
    );
  });
});
