import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type StoredAlert, VERIFICATION_STATES, type VerificationState } from '../core/alerts/alert.ts';
import { documentClient } from '../core/store/documentClient.ts';
import { LeakwatchStore } from '../core/store/leakwatchStore.ts';
import { dataDirOf, StackOutputsError, stackOutputs } from './stackOutputs.ts';

export interface AlertsIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

export class AlertsUsageError extends Error {
  override name = 'AlertsUsageError';
}

/**
 * Opens the store the alerts live in: the local one under the data directory (the default, after
 * `npm start`), or a deployed stack's table (`--stack NAME`, AWS credential chain).
 */
async function openStore(
  options: Record<string, unknown>,
): Promise<{ store: LeakwatchStore; close(): Promise<void> }> {
  if (options.stack) {
    const region = options.awsRegion ? { region: String(options.awsRegion) } : {};
    let table: string;
    try {
      ({ HistoryTableName: table } = await stackOutputs(
        new CloudFormationClient(region),
        String(options.stack),
        ['HistoryTableName'],
      ));
    } catch (error) {
      if (error instanceof StackOutputsError) throw new AlertsUsageError(error.message, { cause: error });
      throw error;
    }
    const documents = documentClient(new DynamoDBClient(region));
    return { store: new LeakwatchStore(documents, table), close: async () => undefined };
  }
  // Local mode's store: dynalite on the data directory (only started when asked for).
  const { startEmulators, ensureTable, LOCAL_NAMES } = await import('../local/emulators.ts');
  const dataDir = dataDirOf(options.dataDir as string | undefined);
  const emulators = await startEmulators(dataDir);
  await ensureTable(emulators.dynamo, LOCAL_NAMES.table);
  return {
    store: new LeakwatchStore(emulators.documents, LOCAL_NAMES.table),
    close: () => emulators.close(),
  };
}

const row = (a: StoredAlert) =>
  [
    a.alertId,
    a.state === 'resolved'
      ? `resolved in ${a.resolvedIn}`
      : a.reopenedIn
        ? `open (again in ${a.reopenedIn})`
        : 'open',
    a.severity,
    a.verification,
    `${a.model} ${a.line}`,
    a.build,
    a.rule,
    a.dataType,
    a.subject,
  ].join('\t');

/** `leakwatch alerts`: the alerts of every firmware line, filtered; a table, or JSON with --json. */
export async function alertsList(options: Record<string, unknown>, io: AlertsIo): Promise<number> {
  const state = options.state as string | undefined;
  if (state && state !== 'open' && state !== 'resolved')
    throw new AlertsUsageError(`--state "${state}" is not open or resolved`);
  const { store, close } = await openStore(options);
  try {
    const alerts: StoredAlert[] = [];
    for (const line of await store.listLines()) {
      if (options.model && line.model !== options.model) continue;
      if (options.line && line.lineName !== options.line) continue;
      alerts.push(...(await store.alertsOfLine(line.line)));
    }
    const shown = alerts.filter(
      (a) => (!state || a.state === state) && (!options.severity || a.severity === options.severity),
    );
    if (options.json) io.stdout.write(`${JSON.stringify(shown.map(plain), null, 2)}\n`);
    else {
      io.stdout.write('id\tstate\tseverity\tverdict\tmodel/line\traised in\trule\tdata type\tsubject\n');
      for (const a of shown) io.stdout.write(`${row(a)}\n`);
    }
    return 0;
  } finally {
    await close();
  }
}

/** `leakwatch alerts verify ID --as STATE`: the lab's verdict; benign/false positives are suppressed. */
export async function alertsVerify(
  alertId: string,
  options: Record<string, unknown>,
  io: AlertsIo,
): Promise<number> {
  const verdict = options.as as string;
  if (!VERIFICATION_STATES.includes(verdict as VerificationState))
    throw new AlertsUsageError(`--as "${verdict}" is not one of ${VERIFICATION_STATES.join(', ')}`);
  const { store, close } = await openStore(options);
  try {
    const alert = await store.alertById(alertId);
    if (!alert) {
      io.stderr.write(`leakwatch alerts verify: no alert ${alertId} (leakwatch alerts lists them)\n`);
      return 1;
    }
    await store.verifyAlert(
      alert,
      verdict as VerificationState,
      options.note as string | undefined,
      new Date(),
    );
    const suppressed = verdict === 'benign-positive' || verdict === 'false-positive';
    io.stdout.write(
      `${alertId}: ${verdict}${suppressed ? ' (suppressed: later builds neither reopen it nor notify)' : ''}\n`,
    );
    return 0;
  } finally {
    await close();
  }
}

/** Sets become arrays so JSON shows them. */
const plain = (a: StoredAlert) => ({ ...a, seenInBuilds: [...(a.seenInBuilds ?? [])].sort() });
