import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';

/**
 * Who ran what, one item each, so that line and build items hold counts instead of sets that
 * grow with every session (issue 20: a line item with ~20,000 session ids passed DynamoDB's 400 KB
 * and every later session end was dead-lettered; long before that, each write of the item cost a
 * write unit per KB it held).
 *
 * | member        | pk                  | sk                                   |
 * |---------------|---------------------|--------------------------------------|
 * | build session | `MEMBERS#<line>`    | `BS#<builtAt>#<hash of build, device, session>` |
 * | build device  | `MEMBERS#<line>`    | `BD#<builtAt>#<hash of build, device>` |
 * | line device   | `MEMBERS#<line>`    | `LD#<hash of device>`                |
 * | line build    | `MEMBERS#<line>`    | `LB#<builtAt>#<hash of build>`       |
 *
 * (Hashes keep sort keys under DynamoDB's 1,024 bytes whatever the ids' lengths; the ids are
 * attributes of the item.) A member is *claimed* by the session-end record that first writes it
 * (`claimedBy`: its shard and sequence number); only the claimer counts it. A claim survives a
 * crash: the retried record finds the member claimed by itself and counts it then, under its
 * watermark (BuildStore.sessionEnded), so it is counted once; another record, on any shard, finds
 * it claimed by someone else and counts nothing.
 */
export interface SessionMembers {
  readonly build: string;
  readonly builtAt: string;
  readonly deviceId: string;
  readonly sessionId: string;
}

/** Which members the record claimed (is the first to count). */
export interface Claimed {
  readonly buildSession: boolean;
  readonly buildDevice: boolean;
  readonly lineDevice: boolean;
  readonly lineBuild: boolean;
}

const digest = (...parts: string[]) =>
  createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 22);

export const memberKeys = (line: string, s: SessionMembers) => {
  const pk = `MEMBERS#${line}`;
  return {
    buildSession: { pk, sk: `BS#${s.builtAt}#${digest(s.build, s.deviceId, s.sessionId)}` },
    buildDevice: { pk, sk: `BD#${s.builtAt}#${digest(s.build, s.deviceId)}` },
    lineDevice: { pk, sk: `LD#${digest(s.deviceId)}` },
    lineBuild: { pk, sk: `LB#${s.builtAt}#${digest(s.build)}` },
  };
};

/**
 * Members known to be claimed, and by whom (a claim never changes): an execution environment puts
 * a member once, then knows it. Kept to the last 10,000.
 */
export class KnownClaims {
  private readonly claims = new Map<string, string>();
  get(key: { pk: string; sk: string }): string | undefined {
    return this.claims.get(`${key.pk}\u0000${key.sk}`);
  }
  set(key: { pk: string; sk: string }, claimer: string): void {
    if (this.claims.size >= 10_000) this.claims.delete(this.claims.keys().next().value!);
    this.claims.set(`${key.pk}\u0000${key.sk}`, claimer);
  }
}

/**
 * Claims the session's members for the record at `at`: one conditional put each, except for
 * members the environment knows are claimed (by another record: nothing to count).
 */
export async function claimMembers(
  client: DynamoDBDocumentClient,
  tableName: string,
  line: string,
  session: SessionMembers,
  at: { readonly shardId: string; readonly sequenceNumber: string },
  known: KnownClaims,
): Promise<Claimed> {
  const me = `${at.shardId}/${at.sequenceNumber}`;
  const claim = async (key: { pk: string; sk: string }, fields: Record<string, string>) => {
    const claimer = known.get(key);
    if (claimer !== undefined) return claimer === me;
    try {
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: { ...key, type: 'member', ...fields, claimedBy: me },
          ConditionExpression: 'attribute_not_exists(pk) OR claimedBy = :me',
          ExpressionAttributeValues: { ':me': me },
        }),
      );
      known.set(key, me);
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Someone else's (which record does not matter: not this one).
      known.set(key, '');
      return false;
    }
  };
  const k = memberKeys(line, session);
  const { build, builtAt, deviceId, sessionId } = session;
  const [buildSession, buildDevice, lineDevice, lineBuild] = await Promise.all([
    claim(k.buildSession, { build, builtAt, deviceId, sessionId }),
    claim(k.buildDevice, { build, builtAt, deviceId }),
    claim(k.lineDevice, { deviceId }),
    claim(k.lineBuild, { build, builtAt }),
  ]);
  return {
    buildSession: buildSession!,
    buildDevice: buildDevice!,
    lineDevice: lineDevice!,
    lineBuild: lineBuild!,
  };
}

/**
 * How many sessions, devices or builds a line or build item counts: its count, plus the set an
 * item written before counts (layout 4 up to issue 20) still holds.
 */
export function memberCount(item: Record<string, unknown>, what: 'session' | 'device' | 'build'): number {
  const legacy = item[`${what}s`];
  return Number(item[`${what}Count`] ?? 0) + (legacy instanceof Set ? legacy.size : 0);
}

/** Some of the lab devices of a build item (its capped sample, and an older item's whole set). */
export function deviceSampleOf(item: Record<string, unknown>): string[] {
  const ids = new Set<string>();
  for (const name of ['deviceSample', 'devices'])
    for (const id of (item[name] as Set<string> | undefined) ?? []) ids.add(id);
  return [...ids].sort();
}
