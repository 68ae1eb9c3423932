import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EVENT_RECORD_OVERHEAD_BYTES, INGEST_BATCH } from '../core/ingest/batchSettings.ts';
import { benchArgs } from './args.ts';

/**
 * What a fleet costs a month on AWS, from the units bench:load measured (docs/cost.md):
 *
 *   npm run bench:cost [-- --figures bench/out/load-figures.json]
 *
 * Each lab device sends one flow a second. The event source gathers a shard's records for the
 * batch window (`ingestBatchWindowSeconds`), up to the batch size and Lambda's 6 MB payload, so a
 * small fleet's batches are small; each fleet is priced with the bench:load run whose records per
 * invocation are nearest to the batches it would make (every DynamoDB request delayed 10 ms, so
 * the Lambda duration is a service's, not loopback's). Prices: us-east-1, on-demand list prices.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = benchArgs('bench:cost', {
  figures: { type: 'string', default: join(root, 'bench', 'out', 'load-figures.json') },
});

/** us-east-1 on-demand list prices (USD), as published by AWS in 2025 (DynamoDB after its November 2024 cut). */
export const PRICES = {
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoReadUnit: 0.125 / 1e6,
  dynamoStorageGbMonth: 0.25,
  kinesisOnDemandStreamHour: 0.04,
  kinesisIngestGb: 0.08,
  kinesisRetrievalGb: 0.04,
  lambdaArmGbSecond: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  firehoseIngestGb: 0.029,
  /** Firehose bills each record rounded up to 5 KB. */
  firehoseRecordMinKb: 5,
  firehoseFormatConversionGb: 0.018,
  firehoseDynamicPartitioningGb: 0.02,
  s3StandardGbMonth: 0.023,
} as const;

const HOURS_PER_MONTH = 730;
/** A flow record as the probe puts it: the bundled scenario's 17 records average 1,129 bytes. */
const RECORD_BYTES = 1129;
/** An archive row (masked values and digests, JSON) before Parquet: about a flow record's size. */
const ARCHIVE_ROW_BYTES = 1000;
/** A row in Parquet on S3 (columnar, compressed): an estimate, not measured. */
const PARQUET_ROW_BYTES = 200;
/** Flow-id chunk bytes per flow (9-byte entries; the item's keys are shared by a batch's flows). */
const CHUNK_BYTES_PER_FLOW = 9;
const INGEST_MEMORY_GB = 0.5;

interface Figures {
  readonly recordsPerInvocation: number;
  readonly writeUnitsPerFlow: number;
  readonly readUnitsPerFlow: number;
  readonly requestsPerFlow: number;
  readonly recordsPerSecondPerShard: number;
  readonly settings?: { latencyMs?: number };
  readonly reconciled?: boolean;
}

/**
 * Before issue 16 (one transaction per flow, batches of 100, window 1 s), measured at b69e26f:
 * 11.24 write units, 0.20 read units, 1.23 requests per flow; 42.5 records/s on one shard at 10 ms.
 */
const BEFORE: Figures = {
  recordsPerInvocation: 100,
  writeUnitsPerFlow: 11.24,
  readUnitsPerFlow: 0.2,
  requestsPerFlow: 1.23,
  recordsPerSecondPerShard: 42.5,
};

const text = await readFile(values.figures, 'utf8').catch(() => undefined);
if (!text) {
  console.error(
    `bench:cost: no figures in ${values.figures}; run bench:load first, e.g.\n  npm run bench:load -- --flows 20000 --lines 4 --builds 4 --chunk 20000 --shards 1 --dynamo-latency-ms 10 --in-memory --batch-size 25`,
  );
  process.exit(2);
}
const measured = Object.entries(JSON.parse(text) as Record<string, Figures>).filter(
  ([, f]) => f.settings?.latencyMs === 10 && f.reconciled !== false,
);
if (measured.length === 0) {
  console.error(`bench:cost: ${values.figures} has no reconciled run with --dynamo-latency-ms 10`);
  process.exit(2);
}

const payloadCap = Math.floor(
  INGEST_BATCH.maxPayloadBytes / (Math.ceil(RECORD_BYTES / 3) * 4 + EVENT_RECORD_OVERHEAD_BYTES),
);

/**
 * Records per invocation a fleet makes: an on-demand stream keeps write capacity for twice its peak
 * (at least 4 shards of 1 MB/s), and the event source gathers a shard's records for the window, up
 * to the batch size and the payload limit.
 */
function batchOf(devices: number, window: number, batchCap: number): number {
  const shards = Math.max(4, Math.ceil((2 * devices * RECORD_BYTES) / 1e6));
  return Math.max(1, Math.min(batchCap, payloadCap, (devices / shards) * Math.max(window, 1)));
}

function monthly(
  devices: number,
  figures: Figures,
  window: number,
  batchCap: number,
  /** Archive rows packed up to 500 to a Firehose record (since issue 16), or one row per record. */
  packedRows: boolean,
) {
  const flowsPerSecond = devices;
  const flows = flowsPerSecond * 3600 * HOURS_PER_MONTH;
  const batch = batchOf(devices, window, batchCap);
  const gb = (bytes: number) => bytes / 1e9;
  const dynamo =
    flows *
      (figures.writeUnitsPerFlow * PRICES.dynamoWriteUnit +
        figures.readUnitsPerFlow * PRICES.dynamoReadUnit) +
    gb(flows * CHUNK_BYTES_PER_FLOW) * PRICES.dynamoStorageGbMonth;
  const kinesis =
    HOURS_PER_MONTH * PRICES.kinesisOnDemandStreamHour +
    gb(flows * RECORD_BYTES) * (PRICES.kinesisIngestGb + PRICES.kinesisRetrievalGb);
  const invocations = flows / batch;
  const secondsPerInvocation = batch / figures.recordsPerSecondPerShard;
  const lambda =
    invocations * PRICES.lambdaRequest +
    invocations * secondsPerInvocation * INGEST_MEMORY_GB * PRICES.lambdaArmGbSecond;
  // Firehose bills each record rounded up to 5 KB: one row alone is billed 5 KB, 500 rows about their size.
  const firehoseBilledGb = gb(
    flows * (packedRows ? ARCHIVE_ROW_BYTES : Math.max(ARCHIVE_ROW_BYTES, PRICES.firehoseRecordMinKb * 1024)),
  );
  const firehose =
    firehoseBilledGb * PRICES.firehoseIngestGb +
    gb(flows * ARCHIVE_ROW_BYTES) *
      (PRICES.firehoseFormatConversionGb + PRICES.firehoseDynamicPartitioningGb);
  const s3 = gb(flows * PARQUET_ROW_BYTES) * PRICES.s3StandardGbMonth;
  return {
    flows,
    batch,
    dynamo,
    kinesis,
    lambda,
    firehose,
    s3,
    total: dynamo + kinesis + lambda + firehose + s3,
  };
}

/** The measured run whose batches are nearest (by ratio) to a fleet's. */
function nearest(batch: number): [string, Figures] {
  return measured.reduce((best, run) =>
    Math.abs(Math.log(run[1].recordsPerInvocation / batch)) <
    Math.abs(Math.log(best[1].recordsPerInvocation / batch))
      ? run
      : best,
  );
}

const usd = (n: number) =>
  n >= 100 ? `$${Math.round(n).toLocaleString('en')}` : `$${n.toFixed(n >= 1 ? 2 : 3)}`;
console.log(
  `Monthly AWS cost of leakwatch's ingest path, one flow per device per second (${HOURS_PER_MONTH} h), us-east-1 on-demand list prices (2025)`,
);
console.log(
  `measured runs (records per invocation → write units, read units, requests per flow; records/s on one shard at 10 ms): ${measured
    .map(
      ([name, f]) =>
        `${name}: ${f.recordsPerInvocation.toFixed(0)} → ${f.writeUnitsPerFlow.toFixed(4)} WU, ${f.readUnitsPerFlow.toFixed(4)} RU, ${f.requestsPerFlow.toFixed(4)} req; ${f.recordsPerSecondPerShard.toFixed(0)}/s`,
    )
    .join(' | ')}\n`,
);
console.log(
  '| devices | flows/month | design | batch (records) | DynamoDB | Kinesis | Lambda | Firehose | S3 (first month) | total |',
);
console.log('|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|');
const missing = new Set<number>();
for (const devices of [10, 100, 1000, 10_000]) {
  const before = monthly(devices, BEFORE, 1, 100, false);
  const batchAfter = batchOf(devices, INGEST_BATCH.windowSeconds, INGEST_BATCH.size);
  const [name, figures] = nearest(batchAfter);
  const after = monthly(devices, figures, INGEST_BATCH.windowSeconds, INGEST_BATCH.size, true);
  // Figures measured with batches more than twice as large or small price this fleet wrongly.
  const far = Math.abs(Math.log(figures.recordsPerInvocation / batchAfter)) > Math.log(2);
  if (far) missing.add(Math.round(batchAfter));
  for (const [label, m] of [
    ['before (per-flow transactions)', before],
    [
      `now (priced with ${name}${far ? `: NOT near its ${Math.round(batchAfter)}-record batches` : ''})`,
      after,
    ],
  ] as const) {
    console.log(
      `| ${devices.toLocaleString('en')} | ${(m.flows / 1e6).toFixed(1)} M | ${label} | ${m.batch.toFixed(0)} | ${usd(m.dynamo)} | ${usd(m.kinesis)} | ${usd(m.lambda)} | ${usd(m.firehose)} | ${usd(m.s3)} | **${usd(m.total)}** |`,
    );
  }
}
if (missing.size > 0) {
  console.log(
    `\nSome fleets are priced with figures measured at other batch sizes (see NOT above). Measure theirs:\n${[
      ...missing,
    ]
      .map(
        (batch) =>
          `  npm run bench:load -- --flows 20000 --lines 4 --builds 4 --chunk 20000 --shards 1 --dynamo-latency-ms 10 --in-memory --batch-size ${batch}`,
      )
      .join('\n')}`,
  );
}
