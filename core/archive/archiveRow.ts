import type { FlowRecord } from '../../schema/flowRecord.ts';
import type { Finding } from '../classify/classifyCandidates.ts';
import type { Destination } from '../classify/destination.ts';
import { UNKNOWN_COUNTRY } from '../store/keys.ts';

/**
 * The flow archive: one row per flow record, kept for years (Firehose → S3 Parquet → Glue →
 * Athena on AWS; Parquet files under the data directory, read by DuckDB, locally).
 *
 * A row holds what the history holds, per flow: the flow's metadata, its destination as classified
 * and its findings as masked values and keyed digests. Never a raw value: the candidates the probe
 * sent (and HTTP targets, which may carry them) are not archived.
 *
 * ARCHIVE_COLUMNS is the one description of the columns: the Glue table, the local Parquet files and
 * the tests all read it. Types are Glue/Hive types.
 */
export const ARCHIVE_COLUMNS = [
  { name: 'flow_id', type: 'string', comment: "The probe's flow id (a delivery may repeat: count DISTINCT)" },
  { name: 'started_at', type: 'string', comment: 'ISO 8601 UTC' },
  { name: 'ended_at', type: 'string', comment: 'ISO 8601 UTC' },
  { name: 'vendor', type: 'string', comment: 'Device vendor' },
  {
    name: 'model_name',
    type: 'string',
    comment: 'Device model as reported (the partition is its path form)',
  },
  { name: 'line_name', type: 'string', comment: 'Firmware line' },
  { name: 'build', type: 'string', comment: 'Firmware build' },
  { name: 'built_at', type: 'string', comment: 'Build date, ISO 8601 UTC' },
  { name: 'device_id', type: 'string', comment: 'Lab device' },
  { name: 'session_id', type: 'string', comment: 'Lab session' },
  { name: 'probe_run', type: 'string', comment: 'Probe run of the session (empty when not reported)' },
  { name: 'protocol', type: 'string', comment: 'tcp or udp' },
  { name: 'server_ip', type: 'string', comment: 'Server address (empty when unknown: HAR)' },
  { name: 'server_port', type: 'int', comment: 'Server port' },
  { name: 'host', type: 'string', comment: 'Destination host name (or address)' },
  { name: 'registrable_domain', type: 'string', comment: 'Registrable domain of the host' },
  { name: 'organisation', type: 'string', comment: 'Organisation the destination belongs to' },
  { name: 'category', type: 'string', comment: 'Destination category' },
  { name: 'service', type: 'string', comment: 'Consent-gated service (empty when none)' },
  { name: 'country', type: 'string', comment: 'Registration country of the server address (ZZ unknown)' },
  { name: 'asn', type: 'bigint', comment: 'Autonomous system of the server address (0 unknown)' },
  { name: 'as_organisation', type: 'string', comment: 'Network of the server address' },
  { name: 'transport', type: 'string', comment: 'plaintext, tls, quic or unknown' },
  { name: 'transport_detail', type: 'string', comment: 'e.g. plaintext HTTP, TLS 1.3' },
  { name: 'bytes_to_server', type: 'bigint', comment: 'Bytes sent by the device' },
  { name: 'bytes_to_client', type: 'bigint', comment: 'Bytes received by the device' },
  { name: 'personal_data', type: 'boolean', comment: 'The flow carried personal data' },
  { name: 'without_consent', type: 'boolean', comment: 'Sent to a service the session denied consent to' },
  { name: 'data_types', type: 'array<string>', comment: 'Personal data types found (sorted)' },
  {
    name: 'findings',
    type: 'array<struct<data_type:string,where_found:string,chain:string,form:string,masked:string,digest:string,source:string,canary:boolean>>',
    comment: 'Each finding: masked value and keyed digest, never the value',
  },
  { name: 'archived_at', type: 'string', comment: 'When ingest archived the row, ISO 8601 UTC' },
] as const;

/** Partition columns: the day the flow started (UTC) and the model's path form. */
export const ARCHIVE_PARTITION_KEYS = [
  { name: 'dt', type: 'string', comment: 'UTC day the flow started, yyyy-MM-dd' },
  { name: 'model', type: 'string', comment: 'Device model as a path segment (lower case, a-z 0-9 -)' },
] as const;

/** Where the rows are, under the archive bucket or the local archive directory. */
export const ARCHIVE_PREFIX = 'flows';
/** The table queries name (the Glue table in the stack's database on AWS, a DuckDB view locally). */
export const ARCHIVE_TABLE = 'flows';

/** Glue's description of the Parquet files of one location (the table's, or one partition's). */
export function archiveStorage(location: string) {
  return {
    location,
    inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
    outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
    serdeInfo: {
      serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
      parameters: { 'serialization.format': '1' },
    },
    columns: ARCHIVE_COLUMNS.map((c) => ({ name: c.name, type: c.type, comment: c.comment })),
  };
}

/** The S3 key prefix of one partition, as Firehose's dynamic partitioning writes it. */
export const archivePartitionPath = (partition: { dt: string; model: string }) =>
  `${ARCHIVE_PREFIX}/dt=${partition.dt}/model=${partition.model}/`;

export interface ArchiveFinding {
  readonly data_type: string;
  readonly where_found: string;
  readonly chain: string;
  readonly form: string;
  readonly masked: string;
  readonly digest: string;
  readonly source: string;
  readonly canary: boolean;
}

type ColumnName = (typeof ARCHIVE_COLUMNS)[number]['name'];
type PartitionName = (typeof ARCHIVE_PARTITION_KEYS)[number]['name'];

/** A row as written (JSON): every column, plus the two partition values Firehose routes by. */
export type ArchiveRow = { readonly [K in ColumnName | PartitionName]: unknown } & {
  readonly flow_id: string;
  readonly dt: string;
  readonly model: string;
  readonly model_name: string;
  readonly data_types: readonly string[];
  readonly findings: readonly ArchiveFinding[];
};

/**
 * A model's name as a partition value: lower case, runs of anything but a-z and 0-9 as one `-`
 * ("RedMi 1S" → "redmi-1s"). Two models may share a path form; `model_name` tells them apart.
 */
export function modelPartition(model: string): string {
  const slug = model
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return slug || 'unknown';
}

/** The archive row of one classified flow. */
export function archiveRowOf(
  record: FlowRecord,
  destination: Destination,
  findings: readonly Finding[],
  withoutConsent: boolean,
  archivedAt: Date,
): ArchiveRow {
  const { flow } = record;
  return {
    flow_id: flow.id,
    started_at: flow.startedAt,
    ended_at: flow.endedAt,
    vendor: record.device.vendor,
    model_name: record.device.model,
    line_name: record.firmware.line,
    build: record.firmware.build,
    built_at: record.firmware.builtAt,
    device_id: record.device.id,
    session_id: record.session.id,
    probe_run: record.probe.run ?? '',
    protocol: flow.protocol,
    server_ip: flow.server.ip ?? '',
    server_port: flow.server.port,
    host: destination.host,
    registrable_domain: destination.registrableDomain,
    organisation: destination.organisation,
    category: destination.category,
    service: destination.service ?? '',
    country: destination.country ?? UNKNOWN_COUNTRY,
    asn: destination.asn ?? 0,
    as_organisation: destination.asOrganisation ?? '',
    transport: destination.transport,
    transport_detail: destination.transportDetail,
    bytes_to_server: flow.bytes.toServer,
    bytes_to_client: flow.bytes.toClient,
    personal_data: findings.length > 0,
    without_consent: findings.length > 0 && withoutConsent,
    data_types: [...new Set(findings.map((f) => f.dataType))].sort(),
    findings: findings.map((f) => ({
      data_type: f.dataType,
      where_found: f.where,
      chain: f.chain.join(' → '),
      form: f.form ?? '',
      masked: f.masked,
      digest: f.digest ?? '',
      source: f.source,
      canary: f.canary ?? false,
    })),
    archived_at: archivedAt.toISOString(),
    dt: new Date(flow.startedAt).toISOString().slice(0, 10),
    model: modelPartition(record.device.model),
  };
}

/** Where archived rows go: Firehose on AWS, Parquet files locally. Rows are sent at `flush`. */
export interface ArchiveSink {
  add(row: ArchiveRow): void;
  /** Writes every row added since the last flush; throws if they could not all be written. */
  flush(): Promise<void>;
}
