import type { LabContext } from '../schema/flowRecord.ts';
import { readCapture } from './capture/openCapture.ts';
import { SECRETS_TLS_KEY_LOG } from './capture/pcapng.ts';
import type { SkipCounter } from './decode/skipReasons.ts';
import { CaptureFormatError } from './errors.ts';
import type { FlowTableLimits, TlsDecryptStats } from './flowTable.ts';
import { ParallelPipeline } from './parallel/parallelPipeline.ts';
import { type ProbeInput, type ProbeOutput, ProbePipeline } from './pipeline.ts';
import { TlsKeyLog } from './tls/keyLog.ts';

export interface ProbeStats {
  readonly capture: string;
  format: 'pcap' | 'pcapng' | 'unknown';
  compressed: boolean;
  packets: number;
  flows: number;
  readonly skipped: SkipCounter;
  /** Bytes of a final record cut short (capture stopped mid-write). */
  truncatedTailBytes: number;
  bytesRead: number;
  /** Flow tables the capture was read with (1 unless several threads were asked for JSON output). */
  readonly threads: number;
  /** The TLS secrets the run had (given, and read from pcapng secrets blocks). */
  readonly keyLog: TlsKeyLog;
  /** What they opened (filled in when the capture ends). */
  tls?: TlsDecryptStats;
  /** pcapng secrets blocks holding TLS key logs, read into `keyLog`. */
  secretsBlocks: number;
  /** pcapng secrets blocks of a type other than TLS key logs (ignored). */
  otherSecretsBlocks: number;
}

export interface RunProbeOptions {
  readonly onProgress?: (stats: ProbeStats) => void;
  /** Stamped on records as `probe.input` instead of the file format (live input). */
  readonly input?: ProbeInput;
  /**
   * Flow-table worker threads (records as JSON text only); 1 or unset: this thread alone.
   * The records are the same (see ParallelPipeline).
   */
  readonly threads?: number;
  /**
   * TLS secrets (key logs given by the lab); secrets blocks in a pcapng capture are added to it.
   * TLS flows whose client random it holds are decrypted.
   */
  readonly keyLog?: TlsKeyLog;
  /** The flow table's limits (one thread only; a live connection's share). */
  readonly limits?: Partial<FlowTableLimits>;
}

/**
 * Reads one capture (pcap or pcapng, gzip or not) and emits one flow record per flow, in the order
 * flows close. Packets that cannot be decoded are counted by reason and skipped; a bad file header
 * throws `CaptureFormatError` before anything is emitted.
 */
export async function runProbe(
  input: AsyncIterable<Buffer>,
  captureName: string,
  context: LabContext,
  emit: ProbeOutput,
  options: RunProbeOptions = {},
): Promise<ProbeStats> {
  const keyLog = options.keyLog ?? new TlsKeyLog();
  const pipeline =
    options.threads && options.threads > 1 && typeof emit !== 'function'
      ? new ParallelPipeline(context, captureName, emit, options.threads, keyLog)
      : new ProbePipeline(context, captureName, emit, keyLog, options.limits);
  const stats: ProbeStats = {
    capture: captureName,
    format: 'unknown',
    compressed: false,
    packets: 0,
    flows: 0,
    skipped: pipeline.skipped,
    truncatedTailBytes: 0,
    bytesRead: 0,
    threads: pipeline.tables,
    keyLog,
    secretsBlocks: 0,
    otherSecretsBlocks: 0,
  };
  // A capture damaged part-way: the flows read up to the damage are real traffic, so they are
  // emitted (as at the end of a capture) before the error goes up; nothing already read is lost.
  const flushThenThrow = async (error: unknown): Promise<never> => {
    if (error instanceof CaptureFormatError) {
      stats.packets = pipeline.packets;
      await pipeline.finish();
      stats.flows = pipeline.flows;
      stats.tls = pipeline.tlsStats;
    } else await pipeline.abort();
    throw error;
  };
  const result = await readCapture(input, captureName, {
    onFormat: (format) => {
      pipeline.input = options.input ?? format;
    },
    onPacket: (packet) => pipeline.add(packet),
    onSecrets: (type, data, fileOffset) => {
      if (type === SECRETS_TLS_KEY_LOG) {
        stats.secretsBlocks++;
        pipeline.addSecrets(data.toString('latin1'), `${captureName} secrets block at byte ${fileOffset}`);
      } else stats.otherSecretsBlocks++;
    },
    afterChunk: () => pipeline.drain(),
    onProgress: (bytesRead) => {
      stats.bytesRead = bytesRead;
      stats.packets = pipeline.packets;
      stats.flows = pipeline.flowsSeen;
      options.onProgress?.(stats);
    },
  }).catch(flushThenThrow);
  // A parallel pipeline stops its workers when it finishes, also when finishing fails.
  await pipeline.finish();
  stats.format = result.format;
  stats.compressed = result.compressed;
  stats.truncatedTailBytes = result.truncatedTailBytes;
  stats.bytesRead = result.bytesRead;
  stats.packets = pipeline.packets;
  stats.flows = pipeline.flows;
  stats.tls = pipeline.tlsStats;
  return stats;
}
