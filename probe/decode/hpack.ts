import { HUFFMAN_CODES, HUFFMAN_LENGTHS, STATIC_TABLE } from './hpackTables.ts';

/**
 * HPACK header block decoding (RFC 7541), for one direction of one HTTP/2 connection: integers
 * (§5.1), string literals plain or Huffman-coded (§5.2, Appendix B), the static table (Appendix A)
 * and the connection's dynamic table (§2.3.2, §4) with its size updates (§6.3), and the five field
 * representations (§6.1, §6.2.1-3). Work and memory are linear in the block: every integer and
 * string is bounded by the bytes left, the dynamic table by its maximum size, and a block's decoded
 * header list by MAX_HEADER_LIST_BYTES (an HPACK "bomb" of repeated references is cut there).
 *
 * Own code rather than a package: the probe needs decoding only, with its own limits, and the npm
 * HPACK libraries are encoder+decoder stream stacks (hpack.js pulls in readable-stream and friends,
 * last released in 2019); this is ~200 lines plus the RFC's tables.
 */

/** A decoded block's fields are cut at this many bytes (names + values), like an HTTP/1 header section. */
export const MAX_HEADER_LIST_BYTES = 64 * 1024;
/** Dynamic table size updates above this are refused (a peer's SETTINGS could allow more; none do). */
export const MAX_DYNAMIC_TABLE_BYTES = 64 * 1024;

/** Why a header block could not be decoded: the connection's later blocks cannot be either. */
export class HpackError extends Error {
  override name = 'HpackError';
}

/** The Huffman code as a binary tree in a flat array: node n's children are at 2n and 2n+1. */
const HUFFMAN_TREE = (() => {
  // Children per node (0 = none); leaves are stored as -(symbol + 1).
  const children: number[] = [0, 0];
  let nodes = 1;
  HUFFMAN_CODES.forEach((code, symbol) => {
    const length = HUFFMAN_LENGTHS[symbol]!;
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1);
      if (bit === 0) children[slot] = -(symbol + 1);
      else {
        if (!children[slot]) {
          children[slot] = nodes++;
          children.push(0, 0);
        }
        node = children[slot]!;
      }
    }
  });
  return Int32Array.from(children);
})();
const EOS = 256;

/** Huffman-decodes `bytes` (RFC 7541 §5.2: padding is at most 7 bits, all ones; EOS never appears). */
export function huffmanDecode(bytes: Buffer): string {
  const out = Buffer.allocUnsafe(Math.ceil((bytes.length * 8) / 5));
  let length = 0;
  let node = 0;
  let depth = 0;
  let allOnes = true;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = (byte >>> bit) & 1;
      const next = HUFFMAN_TREE[2 * node + one]!;
      if (next < 0) {
        const symbol = -next - 1;
        if (symbol === EOS) throw new HpackError('Huffman string contains EOS');
        out[length++] = symbol;
        node = 0;
        depth = 0;
        allOnes = true;
      } else if (next === 0) throw new HpackError('invalid Huffman code');
      else {
        node = next;
        depth++;
        allOnes &&= one === 1;
      }
    }
  }
  if (depth > 7 || !allOnes) throw new HpackError('Huffman padding is not at most 7 one bits');
  return out.toString('latin1', 0, length);
}

/** Reads HPACK's prefixed integers and strings from one block. */
class BlockReader {
  offset = 0;
  constructor(readonly block: Buffer) {}

  get done(): boolean {
    return this.offset >= this.block.length;
  }

  /** §5.1: an integer with an N-bit prefix in the current byte. */
  integer(prefixBits: number): number {
    const block = this.block;
    const max = (1 << prefixBits) - 1;
    let value = block[this.offset++]! & max;
    if (value < max) return value;
    for (let shift = 0; ; shift += 7) {
      if (this.offset >= block.length) throw new HpackError('integer runs past the block');
      // 2^28 is more than any index, length or table size this decoder accepts.
      if (shift > 21) throw new HpackError('integer too large');
      const byte = block[this.offset++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
  }

  /** §5.2: a string literal, Huffman-coded when its first bit is set. */
  string(): string {
    if (this.offset >= this.block.length) throw new HpackError('string missing at the end of the block');
    const huffman = (this.block[this.offset]! & 0x80) !== 0;
    const length = this.integer(7);
    if (length > this.block.length - this.offset) throw new HpackError('string runs past the block');
    const bytes = this.block.subarray(this.offset, this.offset + length);
    this.offset += length;
    return huffman ? huffmanDecode(bytes) : bytes.toString('latin1');
  }
}

/** One direction's decoder: decode each header block of the connection in order. */
export class HpackDecoder {
  /** The dynamic table, newest entry first (§2.3.3: index 62 is the newest). */
  private readonly dynamic: [string, string][] = [];
  private size = 0;
  /** The table's maximum size: 4,096 until a size update says otherwise (§4.2, RFC 9113 §6.5.2). */
  private maxSize = 4096;

  /** The header fields of one block, in order; a block cut at MAX_HEADER_LIST_BYTES sets `truncated`. */
  decode(block: Buffer): { fields: [string, string][]; truncated: boolean } {
    const reader = new BlockReader(block);
    const fields: [string, string][] = [];
    let listBytes = 0;
    let truncated = false;
    const emit = (name: string, value: string) => {
      listBytes += name.length + value.length;
      if (listBytes > MAX_HEADER_LIST_BYTES) truncated = true;
      else fields.push([name, value]);
    };
    while (!reader.done) {
      const first = block[reader.offset]!;
      if (first & 0x80) {
        // §6.1 Indexed Header Field.
        const [name, value] = this.entry(reader.integer(7));
        emit(name, value);
      } else if (first & 0x40) {
        // §6.2.1 Literal with Incremental Indexing.
        const index = reader.integer(6);
        const name = index === 0 ? reader.string() : this.entry(index)[0];
        const value = reader.string();
        this.add(name, value);
        emit(name, value);
      } else if (first & 0x20) {
        // §6.3 Dynamic Table Size Update.
        const size = reader.integer(5);
        if (size > MAX_DYNAMIC_TABLE_BYTES) throw new HpackError(`table size update to ${size} bytes`);
        this.maxSize = size;
        this.evict(0);
      } else {
        // §6.2.2 Literal without Indexing (0000), §6.2.3 Never Indexed (0001).
        const index = reader.integer(4);
        const name = index === 0 ? reader.string() : this.entry(index)[0];
        emit(name, reader.string());
      }
    }
    return { fields, truncated };
  }

  /** §2.3.3: 1..61 static, 62.. dynamic (newest first). */
  private entry(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError('index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
    const entry = this.dynamic[index - STATIC_TABLE.length - 1];
    if (!entry) throw new HpackError(`index ${index} beyond the dynamic table`);
    return entry;
  }

  /** §4.4: a new entry evicts the oldest until it fits; one larger than the table empties it. */
  private add(name: string, value: string): void {
    const size = name.length + value.length + 32; // §4.1
    this.evict(size);
    if (size > this.maxSize) return;
    this.dynamic.unshift([name, value]);
    this.size += size;
  }

  private evict(room: number): void {
    while (this.dynamic.length > 0 && this.size + room > this.maxSize) {
      const [name, value] = this.dynamic.pop()!;
      this.size -= name.length + value.length + 32;
    }
  }
}
