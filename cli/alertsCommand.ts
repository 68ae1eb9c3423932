import {
  alertAsJson,
  isAlertState,
  type StoredAlert,
  VERIFICATION_STATES,
  type VerificationState,
} from '../core/alerts/alert.ts';
import {
  howToResolve,
  openConsentAlertsResolveIn,
  openConsentServices,
  resolutionNeeds,
} from '../core/alerts/resolution.ts';
import { type CliIo, CliUsageError, printTable, withStore } from './openStore.ts';

export type AlertsIo = CliIo;

const row = (a: StoredAlert) => [
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
  resolutionNeeds(a),
];

/** `leakwatch alerts`: the alerts of every firmware line, filtered; a table, or JSON with --json. */
export async function alertsList(options: Record<string, unknown>, io: AlertsIo): Promise<number> {
  const state = (options.state as string | undefined) || undefined;
  if (state !== undefined && !isAlertState(state))
    throw new CliUsageError(`--state "${state}" is not open or resolved`);
  return withStore(options, async ({ history }) => {
    const shown = await history.alerts({
      ...(state ? { state } : {}),
      ...(options.severity ? { severity: String(options.severity) } : {}),
      ...(options.model ? { model: String(options.model) } : {}),
      ...(options.line ? { lineName: String(options.line) } : {}),
    });
    if (options.json) {
      const json = shown.map((a) => {
        const toResolve = howToResolve(a);
        return { ...alertAsJson(a), ...(toResolve ? { toResolve } : {}) };
      });
      io.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    } else {
      printTable(
        io,
        [
          'id',
          'state',
          'severity',
          'verdict',
          'model/line',
          'raised in',
          'rule',
          'data type',
          'subject',
          'resolved by',
        ],
        shown.map(row),
      );
      // The consent alerts' test spelled out once per service: what the table's last column means.
      for (const service of openConsentServices(shown)) {
        io.stdout.write(
          `\n${openConsentAlertsResolveIn(service)} that no longer sends their data; a session with the service granted cannot show the fix.\n`,
        );
      }
    }
    return 0;
  });
}

/** `leakwatch alerts verify ID --as STATE`: the lab's verdict; benign/false positives are suppressed. */
export async function alertsVerify(
  alertId: string,
  options: Record<string, unknown>,
  io: AlertsIo,
): Promise<number> {
  const verdict = options.as as string;
  if (!VERIFICATION_STATES.includes(verdict as VerificationState))
    throw new CliUsageError(`--as "${verdict}" is not one of ${VERIFICATION_STATES.join(', ')}`);
  return withStore(options, async ({ store }) => {
    const alert = await store.alerts.alertById(alertId);
    if (!alert) {
      io.stderr.write(`leakwatch alerts verify: no alert ${alertId} (leakwatch alerts lists them)\n`);
      return 1;
    }
    await store.alerts.verifyAlert(
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
  });
}
