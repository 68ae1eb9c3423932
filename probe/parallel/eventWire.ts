import type { TlsDecryptStats } from '../flowTable.ts';
import { SpareBuffers } from './packetWire.ts';

/**
 * What a flow-table worker sends back per chunk: events in the order its table made them, each with
 * a sort key (primary, secondary) that places it where the single-threaded table would have made
 * it: primary = 2 × packet index (while adding that packet) or 2 × index + 1 (a sweep after it),
 * secondary = the open index of the flow a sweep or the final flush closes. Strings are UTF-8 with
 * a u32 length, one after another.
 *
 *   record: mid, serverIp, namesRest, members   (see FlowTable's PartsOutput)
 *   name:   ip, name                            (a DNS answer: the main thread keeps names)
 */
export const EVENT = { record: 1, name: 2 } as const;

export interface EventBatch {
  readonly keys: Float64Array;
  readonly kinds: Uint8Array;
  readonly text: Uint8Array;
  readonly count: number;
  /** The wire buffer the worker read, handed back for reuse. */
  readonly wire?: Uint8Array;
  /** What the table's key log opened (the reply to 'finish'). */
  readonly tls?: TlsDecryptStats;
}

export class EventWriter {
  private keys = new Float64Array(4096);
  private kinds = new Uint8Array(2048);
  private text: Buffer = Buffer.allocUnsafeSlow(1024 * 1024);
  /** Text buffers the main thread returned after merging, reused. */
  private readonly spare = new SpareBuffers();
  private count = 0;
  private textLength = 0;

  event(kind: number, primary: number, secondary: number): void {
    if (this.count === this.kinds.length) {
      const keys = new Float64Array(this.keys.length * 2);
      keys.set(this.keys);
      this.keys = keys;
      const kinds = new Uint8Array(this.kinds.length * 2);
      kinds.set(this.kinds);
      this.kinds = kinds;
    }
    this.keys[this.count * 2] = primary;
    this.keys[this.count * 2 + 1] = secondary;
    this.kinds[this.count++] = kind;
  }

  string(value: string): void {
    const most = 4 + value.length * 3;
    if (this.textLength + most > this.text.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.text.length * 2, this.textLength + most));
      this.text.copy(bigger, 0, 0, this.textLength);
      this.text = bigger;
    }
    const written = this.text.write(value, this.textLength + 4, 'utf8');
    this.text.writeUInt32LE(written, this.textLength);
    this.textLength += 4 + written;
  }

  /** The events so far, in arrays of their own (to transfer); the writer starts anew. */
  take(): EventBatch {
    const batch: EventBatch = {
      keys: this.keys.slice(0, this.count * 2),
      kinds: this.kinds.slice(0, this.count),
      text: new Uint8Array(this.text.buffer, this.text.byteOffset, this.textLength),
      count: this.count,
    };
    this.text = this.spare.take(this.text.length);
    this.count = 0;
    this.textLength = 0;
    return batch;
  }

  /** A batch's text buffer, back from the main thread once merged. */
  recycle(text: Uint8Array): void {
    this.spare.give(text);
  }
}

/** Reads an `EventBatch`'s strings in order, as byte ranges of its text (no copy) or strings. */
export class EventReader {
  readonly text: Buffer;
  private at = 0;
  index = 0;

  constructor(readonly batch: EventBatch) {
    this.text = Buffer.from(batch.text.buffer, batch.text.byteOffset, batch.text.byteLength);
  }

  get done(): boolean {
    return this.index >= this.batch.count;
  }

  get primary(): number {
    return this.batch.keys[this.index * 2]!;
  }

  get secondary(): number {
    return this.batch.keys[this.index * 2 + 1]!;
  }

  /** The next string's byte range [start, end) in `text`. */
  range(): [number, number] {
    const length = this.text.readUInt32LE(this.at);
    const start = this.at + 4;
    this.at = start + length;
    return [start, this.at];
  }

  string(): string {
    const [start, end] = this.range();
    return this.text.toString('utf8', start, end);
  }
}
