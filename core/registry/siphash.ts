/**
 * SipHash-2-4 (Aumasson & Bernstein, 2012): a keyed pseudorandom function for short inputs, fast
 * without native code. Each 64-bit lane is a pair of 32-bit halves in local variables (`v0h`, `v0l`).
 * Used for the known-value prefilter, where it replaces most HMAC computations (the HMAC still
 * decides every match). Checked against the reference vectors and OpenSSL's SIPHASH in the tests.
 */

/** A 128-bit key as four 32-bit words (k0 hi, k0 lo, k1 hi, k1 lo), read little-endian from 16 bytes. */
export type SipKey = readonly [number, number, number, number];

export function sipKey(bytes: Uint8Array): SipKey {
  if (bytes.length !== 16) throw new Error(`SipHash needs a 16-byte key, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, 16);
  return [
    view.getUint32(4, true),
    view.getUint32(0, true),
    view.getUint32(12, true),
    view.getUint32(8, true),
  ];
}

/**
 * SipHash-2-4 of bytes, or of a string's UTF-16LE code units (read in place: no encoding step and
 * no buffer, which is what the prefilter hashes). Returns the low 32 bits of the 64-bit result;
 * `high` receives the rest.
 */
export function sipHash24(key: SipKey, data: Uint8Array | string, high?: { value: number }): number {
  const text = typeof data === 'string' ? data : undefined;
  const bytes = typeof data === 'string' ? undefined : data;
  const length = text !== undefined ? text.length * 2 : bytes!.length;
  let v0h = (key[0] ^ 0x736f6d65) >>> 0;
  let v0l = (key[1] ^ 0x70736575) >>> 0;
  let v1h = (key[2] ^ 0x646f7261) >>> 0;
  let v1l = (key[3] ^ 0x6e646f6d) >>> 0;
  let v2h = (key[0] ^ 0x6c796765) >>> 0;
  let v2l = (key[1] ^ 0x6e657261) >>> 0;
  let v3h = (key[2] ^ 0x74656462) >>> 0;
  let v3l = (key[3] ^ 0x79746573) >>> 0;
  let t = 0;
  const whole = length - (length % 8);
  // Steps: each 8-byte block (2 rounds), the last block with the remaining bytes and the length's
  // low byte on top (2 rounds), then the finalisation (4 rounds).
  for (let i = 0; ; i += 8) {
    const finalising = i > whole;
    let mh = 0;
    let ml = 0;
    if (finalising) {
      v2l = (v2l ^ 0xff) >>> 0;
    } else if (i < whole) {
      if (text !== undefined) {
        const u = i >> 1;
        ml = (text.charCodeAt(u) | (text.charCodeAt(u + 1) << 16)) >>> 0;
        mh = (text.charCodeAt(u + 2) | (text.charCodeAt(u + 3) << 16)) >>> 0;
      } else {
        const b = bytes!;
        ml = (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
        mh = (b[i + 4]! | (b[i + 5]! << 8) | (b[i + 6]! << 16) | (b[i + 7]! << 24)) >>> 0;
      }
    } else {
      mh = ((length & 0xff) << 24) >>> 0;
      const step = text !== undefined ? 2 : 1;
      for (let j = whole; j < length; j += step) {
        const shift = (j - whole) * 8;
        const unit = text !== undefined ? text.charCodeAt(j >> 1) : bytes![j]!;
        if (shift < 32) ml = (ml | (unit << shift)) >>> 0;
        else mh = (mh | (unit << (shift - 32))) >>> 0;
      }
    }
    if (!finalising) {
      v3h = (v3h ^ mh) >>> 0;
      v3l = (v3l ^ ml) >>> 0;
    }
    for (let r = finalising ? 4 : 2; r > 0; r--) {
      t = (v0l + v1l) >>> 0;
      v0h = (v0h + v1h + (t < v0l ? 1 : 0)) >>> 0;
      v0l = t;
      t = v1h;
      v1h = ((v1h << 13) | (v1l >>> 19)) >>> 0;
      v1l = ((v1l << 13) | (t >>> 19)) >>> 0;
      v1h = (v1h ^ v0h) >>> 0;
      v1l = (v1l ^ v0l) >>> 0;
      t = v0h;
      v0h = v0l;
      v0l = t;
      t = (v2l + v3l) >>> 0;
      v2h = (v2h + v3h + (t < v2l ? 1 : 0)) >>> 0;
      v2l = t;
      t = v3h;
      v3h = ((v3h << 16) | (v3l >>> 16)) >>> 0;
      v3l = ((v3l << 16) | (t >>> 16)) >>> 0;
      v3h = (v3h ^ v2h) >>> 0;
      v3l = (v3l ^ v2l) >>> 0;
      t = (v0l + v3l) >>> 0;
      v0h = (v0h + v3h + (t < v0l ? 1 : 0)) >>> 0;
      v0l = t;
      t = v3h;
      v3h = ((v3h << 21) | (v3l >>> 11)) >>> 0;
      v3l = ((v3l << 21) | (t >>> 11)) >>> 0;
      v3h = (v3h ^ v0h) >>> 0;
      v3l = (v3l ^ v0l) >>> 0;
      t = (v2l + v1l) >>> 0;
      v2h = (v2h + v1h + (t < v2l ? 1 : 0)) >>> 0;
      v2l = t;
      t = v1h;
      v1h = ((v1h << 17) | (v1l >>> 15)) >>> 0;
      v1l = ((v1l << 17) | (t >>> 15)) >>> 0;
      v1h = (v1h ^ v2h) >>> 0;
      v1l = (v1l ^ v2l) >>> 0;
      t = v2h;
      v2h = v2l;
      v2l = t;
    }
    if (finalising) break;
    v0h = (v0h ^ mh) >>> 0;
    v0l = (v0l ^ ml) >>> 0;
  }
  if (high) high.value = (v0h ^ v1h ^ v2h ^ v3h) >>> 0;
  return (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
}
