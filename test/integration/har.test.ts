import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { CaptureFormatError } from '../../probe/errors.ts';
import { readHar } from '../../probe/har/readHar.ts';
import { FlowRecordSchema } from '../../schema/flowRecord.ts';
import { fixturesDir, TEST_CONTEXT } from '../helpers/fixtures.ts';

/** HAR input against mitmproxy's own expected parse of each file (test/fixtures/mitmproxy-har/MANIFEST.txt). */
const harDir = join(fixturesDir, 'mitmproxy-har');
const read = async (path: string) => readHar(await readFile(join(harDir, path), 'utf8'), path, TEST_CONTEXT);

interface ExpectedFlow {
  request: {
    method: string;
    scheme: string;
    host: string;
    port: number;
    path: string;
    contentLength: number;
    contentHash: string;
  };
}

describe('HAR files from browsers and tools, against mitmproxy import_har', () => {
  it.each([
    'charles',
    'chrome',
    'firefox',
    'head-content-length',
    'insomnia',
    'postdata',
    'safari',
    'with-bom',
  ])('%s.har', async (name) => {
    const { records, skipped } = await read(`har_files/${name}.har`);
    const expected = JSON.parse(
      await readFile(join(harDir, 'har_files', `${name}.json`), 'utf8'),
    ) as ExpectedFlow[];

    expect(skipped).toEqual([]);
    expect(records).toHaveLength(expected.length);
    records.forEach((record, i) => {
      const want = expected[i]!.request;
      const request = record.http![0]!;
      expect(FlowRecordSchema.safeParse(record).success).toBe(true);
      expect([
        request.method,
        record.names.httpHost,
        record.flow.server.port,
        request.target,
        request.bodyBytes,
      ]).toEqual([want.method, want.host, want.port, want.path, want.contentLength]);
      expect(record.transport).toBe(want.scheme === 'https' ? 'tls' : 'plaintext');
      expect(record.probe.input).toBe('har');
    });
  });

  it('rebuilds request bodies byte for byte (SHA-256 as mitmproxy records it)', async () => {
    const text = await readFile(join(harDir, 'har_files', 'postdata.har'), 'utf8');
    const har = JSON.parse(text);
    const body = har.log.entries[0].request.postData.text as string;
    const [expected] = JSON.parse(
      await readFile(join(harDir, 'har_files', 'postdata.json'), 'utf8'),
    ) as ExpectedFlow[];

    expect(createHash('sha256').update(body).digest('hex')).toBe(expected!.request.contentHash);
    expect((await read('har_files/postdata.har')).records[0]!.http![0]!.bodyBytes).toBe(
      Buffer.byteLength(body),
    );
  });

  it('finds candidate values in decrypted request bodies', async () => {
    const { records } = await read('har_files/postdata.har');

    expect(records[0]!.candidates.length).toBeGreaterThan(0);
    expect(
      records[0]!.candidates.every(
        (c) =>
          c.location === 'json' ||
          c.location === 'header' ||
          c.location === 'query' ||
          c.location === 'cookie' ||
          c.location === 'body-text' ||
          c.location === 'path',
      ),
    ).toBe(true);
  });
});

describe("HAR files written by mitmproxy's savehar", () => {
  it.each([
    ['flows/successful_log.har', 2],
    ['flows/diff_data.har', 5],
    ['flows/error_log.har', 2],
    ['flows/event_stream.har', 2],
    ['flows/incomplete_log.har', 4],
    ['flows/websocket.har', 3],
    ['flows/corrupted_gzip_body.har', 1],
  ])('%s: every entry becomes a record', async (path, entries) => {
    const result = await read(path);

    expect(result.entries).toBe(entries);
    expect(result.skipped).toEqual([]);
    expect(result.records).toHaveLength(entries);
  });
});

describe('broken HAR files', () => {
  it('rejects invalid JSON with the parser message', async () => {
    const error = await read('corrupted_har/brokenfile.har').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(CaptureFormatError);
    expect((error as Error).message).toBe(
      "corrupted_har/brokenfile.har: not a HAR file: Expected ',' or '}' after property value in JSON at position 22",
    );
  });

  it('rejects JSON that is not a HAR document', async () => {
    await expect(read('corrupted_har/broken_headers.json')).rejects.toThrow(
      /not a HAR file: log: .*expected \{ "log": \{ "entries"/,
    );
  });

  it('skips a bad entry with its reason and keeps the others', () => {
    const text = JSON.stringify({
      log: {
        entries: [
          {
            startedDateTime: '2024-01-01T00:00:00Z',
            request: { method: 'GET', url: 'http://a.example/x?imei=490154203237518', headers: [] },
          },
          {
            startedDateTime: '2024-01-01T00:00:01Z',
            request: { method: 'GET', url: 'not a url', headers: [] },
          },
          { startedDateTime: 'yesterday', request: { method: 'GET', url: 'http://b.example/', headers: [] } },
          { request: {} },
        ],
      },
    });

    const result = readHar(text, 'mixed.har', TEST_CONTEXT);

    expect(result.records.map((r) => r.names.httpHost)).toEqual(['a.example']);
    expect(result.records[0]!.candidates).toEqual([
      { request: 0, location: 'query', key: 'imei', value: '490154203237518', shape: 'digits' },
    ]);
    expect(result.skipped).toEqual([
      'entry 1: request.url "not a url" is not a URL',
      'entry 2: startedDateTime "yesterday" is not a date',
      'entry 3: startedDateTime: Invalid input: expected string, received undefined',
    ]);
  });
});
