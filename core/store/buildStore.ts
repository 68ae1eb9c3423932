import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { BuildFacts } from '../alerts/rules.ts';
import { SET_CAPS } from './itemLimits.ts';
import { keys } from './keys.ts';
import { claimMembers, KnownClaims, memberCount, type SessionMembers } from './membership.ts';
import { TableAccess } from './tableAccess.ts';
import { applyWatermarked, encodeSequence, withoutWatermarks } from './watermark.ts';

/** What identifies and describes an observation: build × destination × data type × transport. */
export interface ObservationFields {
  readonly registrableDomain: string;
  readonly host: string;
  readonly transport: string;
  /** A personal-data type, or `-` for the destination itself (every flow adds one). */
  readonly dataType: string;
  readonly organisation: string;
  readonly category: string;
  readonly service?: string;
  /** Registration country and network of the server's address (offline databases). */
  readonly country?: string;
  readonly asn?: number;
  readonly asOrganisation?: string;
  /** `TLS 1.3`, `QUIC v1`, `plaintext HTTP`. */
  readonly transportDetail?: string;
}

/** One flow's contribution to an observation. */
export interface ObservationUpdate extends ObservationFields {
  readonly where: string[];
  readonly masked?: string;
  /** The session's consent for the destination's service was denied. */
  readonly withoutConsent?: boolean;
  /** How known values were written (`plain`, `md5-hex`, …). */
  readonly forms?: readonly string[];
  /** Decoding chains that led to the values (`chunked → gzip → json → base64`). */
  readonly encodings?: readonly string[];
}

/** The firmware line and build an item belongs to, as build, device-run and observation items hold it. */
export interface LineBuild {
  /** The line's key (lineKey: vendor|model|line, URI-encoded parts). */
  readonly line: string;
  readonly vendor: string;
  readonly model: string;
  readonly lineName: string;
  readonly build: string;
  readonly builtAt: string;
}

export interface BuildSummary {
  readonly build: string;
  readonly builtAt: string;
  readonly flows: number;
  /** Lab devices and sessions that ran the build (counted when a session ends). */
  readonly devices: number;
  readonly sessions: number;
  readonly deniedServices: string[];
}

/** An observation as stored: the fields plus what all its flows added up to. */
export interface ObservationItem extends ObservationFields {
  readonly flows: number;
  readonly bytesToServer: number;
  readonly bytesToClient: number;
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly where?: Set<string>;
  readonly sample?: string;
  readonly flowsWithoutConsent?: number;
  readonly forms?: Set<string>;
  /** Decoding chains that led to the values (`chunked → gzip → json → base64`). */
  readonly encodings?: Set<string>;
  /** The first server address seen for this host (absent for HAR input, which may not say). */
  readonly serverIp?: string;
}

/**
 * What the history keeps of lines, builds, observations and probe runs, as readers and the alert
 * rules see it. Ingest writes these items per batch with per-shard watermarks
 * (core/store/watermark.ts, core/ingest/ingestBatch.ts); this part reads them and lists the lines.
 */
export class BuildStore extends TableAccess {
  private readonly claims = new KnownClaims();

  /** Up to `count` builds of the same line before `firmware`, most recent first (the baseline). */
  async previousBuilds(
    line: string,
    firmware: { build: string; builtAt: string },
    count: number,
  ): Promise<BuildSummary[]> {
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND sk < :sk',
        ExpressionAttributeValues: { ':pk': keys.buildsOfLine(line), ':sk': keys.buildSortKey(firmware) },
        ScanIndexForward: false,
        Limit: count,
      }),
    );
    return (result.Items ?? []).map(toBuildSummary);
  }

  /** What a build did (its observations and denied services), for the rules. */
  async buildFacts(line: string, build: BuildSummary): Promise<BuildFacts> {
    const observations = await this.observationsOfBuild(line, build.build);
    return {
      build: build.build,
      builtAt: build.builtAt,
      observations,
      deniedServices: new Set(build.deniedServices),
    };
  }

  async getBuild(line: string, firmware: { build: string; builtAt: string }): Promise<BuildSummary | null> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: keys.build(line, firmware), ConsistentRead: true }),
    );
    return result.Item ? toBuildSummary(result.Item) : null;
  }

  /** A probe run's flows settled so far (counted or dead-lettered), and how many were dead-lettered. */
  async sessionRun(
    deviceId: string,
    sessionId: string,
    run: string,
  ): Promise<{ flows: number; deadLettered: number }> {
    const result = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keys.sessionRun(deviceId, sessionId, run),
        ConsistentRead: true,
      }),
    );
    return { flows: Number(result.Item?.flows ?? 0), deadLettered: Number(result.Item?.deadLettered ?? 0) };
  }

  /**
   * A session of the line ended: the line is listed, and the session, its device and its build are
   * counted once each in the line and in the build (when the build has an item: it counted flows).
   * Counts, not sets, so the items keep their size however many sessions a line sees: what is new
   * is known from membership items the session-end record claims (core/store/membership.ts), and
   * the counts are added under the shard's session-end watermark, so a retry or a replay of the
   * record adds nothing twice. Up to four conditional puts (fewer for members the environment knows
   * are claimed) and one or two updates.
   */
  async sessionEnded(
    line: string,
    fields: { vendor: string; model: string; lineName: string },
    session: SessionMembers & { readonly buildExists: boolean },
    at: { readonly shardId: string; readonly sequenceNumber: string; readonly now: Date },
  ): Promise<void> {
    const mine = await claimMembers(this.client, this.tableName, line, session, at, this.claims);
    const sequence = encodeSequence(at.sequenceNumber);
    const range = { first: sequence, last: sequence };
    // Not the flows' watermark: the batch's flows already moved it past this record.
    const shard = `${at.shardId}-end`;
    const writes = [
      applyWatermarked(this.client, this.tableName, shard, range, {
        key: keys.line(line),
        set: { type: 'line', ...fields, lastSessionEnded: at.now.toISOString() },
        contributions: [
          {
            sequence,
            setOnce: { firstSessionEnded: at.now.toISOString() },
            add: {
              buildCount: mine.lineBuild ? 1 : 0,
              deviceCount: mine.lineDevice ? 1 : 0,
              sessionCount: mine.buildSession ? 1 : 0,
            },
          },
        ],
      }),
    ];
    if (session.buildExists)
      writes.push(
        applyWatermarked(this.client, this.tableName, shard, range, {
          key: keys.build(line, session),
          set: {},
          contributions: [
            {
              sequence,
              add: {
                sessionCount: mine.buildSession ? 1 : 0,
                deviceCount: mine.buildDevice ? 1 : 0,
                deviceSample: mine.buildDevice ? new Set([session.deviceId]) : undefined,
              },
            },
          ],
          caps: { deviceSample: SET_CAPS.deviceSample },
        }),
      );
    await Promise.all(writes);
  }

  async buildsOfLine(line: string): Promise<BuildSummary[]> {
    return (await this.queryAll(keys.buildsOfLine(line))).map(toBuildSummary);
  }

  async observationsOfBuild(line: string, build: string): Promise<ObservationItem[]> {
    // The shards' watermarks are the writers' business, not the readers'.
    return (await this.queryAll(keys.observations(line, build))).map(
      withoutWatermarks,
    ) as unknown as ObservationItem[];
  }
}

function toBuildSummary(item: Record<string, unknown>): BuildSummary {
  return {
    build: String(item.build),
    builtAt: String(item.builtAt),
    flows: Number(item.flows ?? 0),
    devices: memberCount(item, 'device'),
    sessions: memberCount(item, 'session'),
    deniedServices: [...((item.deniedServices as Set<string> | undefined) ?? [])].sort(),
  };
}
