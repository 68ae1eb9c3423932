import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { extractCandidates, textTokens } from '../../probe/candidates.ts';
import { parseStreamRecord } from '../../schema/flowRecord.ts';

/** The expression the free-text scanner replaces (quadratic in V8 on long runs of letters). */
const TEXT_TOKEN = /\+?\d[\d\s().-]{5,22}\d|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const byRegex = (text: string) =>
  [...text.matchAll(TEXT_TOKEN)].map((m) => ({ index: m.index, token: m[0] }));

describe('free-text tokens', () => {
  it('are the regular expression’s matches, on text made of the characters that matter (property)', () => {
    const alphabet = fc.constantFrom(
      ...'0123456789ab.Z@-+()_% \u00a0\u2028x',
      'aa@b.co',
      '+86 138 0013 8000',
      'user.name+tag@example.co.uk',
    );
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 80 }), (parts) => {
        const text = parts.join('');
        expect([...textTokens(text)]).toEqual(byRegex(text));
      }),
      { numRuns: 20_000, seed: 20261202 },
    );
  });

  it('finds phone numbers and e-mail addresses in a body', () => {
    const text = 'call +86 138-0013-8000 or mail lab.user+1@mail.example.com, imei 865123045678905.';
    expect([...textTokens(text)].map((t) => t.token)).toEqual([
      '+86 138-0013-8000',
      'lab.user+1@mail.example.com',
      '865123045678905',
    ]);
  });

  it('reads a 1 MB text body of letters, digits and @ in linear time (the regex took 49 s on 200 KB)', () => {
    // Not a timer: the scanner's work is bounded by the text (each position is looked at a bounded
    // number of times); this runs it on inputs that were quadratic and checks what it found.
    const letters = 'a'.repeat(1_000_000);
    expect([...textTokens(letters)]).toEqual([]);
    const mixed = `${'a.'.repeat(200_000)}@${'b'.repeat(200_000)}.cc ${'1 '.repeat(100_000)}`;
    const tokens = [...textTokens(mixed)];
    expect(tokens[0]!.token.endsWith('.cc')).toBe(true);
    const body = Buffer.from(`imei=865123045678905 ${'x'.repeat(200_000)}`);
    const { candidates } = extractCandidates(
      {
        method: 'POST',
        target: '/',
        version: 'HTTP/1.1',
        headers: [['Content-Type', 'text/plain']],
        body,
        bodyTruncated: false,
      },
      0,
      200,
    );
    expect(candidates.map((c) => c.value)).toContain('865123045678905');
  });
});

describe('device text that is not well-formed Unicode', () => {
  it("a JSON body's lone surrogate becomes U+FFFD in the candidate, so ingest does not reject the record", () => {
    const body = Buffer.from('{"imei":"865123045678905","note":"\\ud800x","\\udc00k":"v"}');
    const { candidates } = extractCandidates(
      {
        method: 'POST',
        target: '/',
        version: 'HTTP/1.1',
        headers: [['Content-Type', 'application/json']],
        body,
        bodyTruncated: false,
      },
      0,
      200,
    );
    expect(candidates.map((c) => [c.key, c.value])).toEqual(
      expect.arrayContaining([
        ['$.imei', '865123045678905'],
        ['$.note', '\ufffdx'],
      ]),
    );
    const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
    for (const c of candidates) expect(loneSurrogate.test(c.key + c.value)).toBe(false);
  });

  it('a record with a lone surrogate is refused at parse time with where it is; a surrogate pair is fine', () => {
    const record = (id: string) =>
      `{"schemaVersion":1,"kind":"session-end","device":{"id":"${id}","vendor":"X","model":"Y"},"firmware":{"line":"l","build":"b","builtAt":"2020-01-01T00:00:00.000Z"},"session":{"id":"s","consent":{}},"probe":{"version":"1","run":"r"},"flows":0,"endedAt":"2020-01-01T00:00:00.000Z"}`;
    expect(() => parseStreamRecord(record('lab-\\ud800'))).toThrow(
      /device\.id: text with a lone surrogate \(not well-formed Unicode\)/,
    );
    expect(() => parseStreamRecord(record('lab-\\ud83d\\ude00'))).not.toThrow(/lone surrogate/);
  });
});
