import { writeFile } from 'node:fs/promises';
import type {
  BuildDiff,
  BuildReport,
  DestinationRow,
  DiffEntry,
  FleetHistory,
  LineSummary,
  Page,
} from '../core/history/fleetHistory.ts';
import { collectFleetReport, renderFleetReport } from '../core/report/fleetReport.ts';
import { NO_PERSONAL_DATA } from '../core/store/keys.ts';
import { type CliIo, CliUsageError, limitOf, printTable, withStore } from './openStore.ts';

/**
 * The fleet-history commands: `builds`, `build`, `diff`, `device`, `sent`. Each opens the local
 * store (default) or a deployed stack's table (`--stack`), asks core/history/fleetHistory.ts, and
 * prints a table (columns on a terminal, tab-separated in a pipe) or JSON with `--json`.
 */
type Options = Record<string, unknown>;

const withHistory = (options: Options, work: (history: FleetHistory) => Promise<void>): Promise<number> =>
  withStore(options, async ({ history }) => {
    await work(history);
    return 0;
  });

const json = (io: CliIo, value: unknown) => io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
function pageOf(options: Options): { limit?: number; next?: string } {
  const limit = limitOf(options.limit);
  return {
    ...(limit !== undefined ? { limit } : {}),
    ...(options.next ? { next: String(options.next) } : {}),
  };
}
/** On a terminal, how to ask for the next page. */
function moreHint(io: CliIo, page: Page<unknown>): void {
  if (page.next) io.stderr.write(`more: add --next ${page.next}\n`);
}

async function lineOf(history: FleetHistory, options: Options): Promise<LineSummary> {
  if (!options.line) throw new CliUsageError('--line is required (leakwatch builds lists the lines)');
  return history.resolveLine({
    line: String(options.line),
    ...(options.model ? { model: String(options.model) } : {}),
    ...(options.vendor ? { vendor: String(options.vendor) } : {}),
  });
}

/** `leakwatch builds`: the lines (without --line) or one line's builds, newest first. */
export async function buildsCommand(options: Options, io: CliIo): Promise<number> {
  return withHistory(options, async (history) => {
    if (!options.line) {
      const page = await history.lines(pageOf(options));
      const items = page.items.filter((l) => !options.model || l.model === options.model);
      if (options.json) return void json(io, { ...page, items });
      printTable(
        io,
        ['vendor', 'model', 'line', 'builds', 'devices', 'sessions', 'last session'],
        items.map((l) => [
          l.vendor,
          l.model,
          l.lineName,
          l.builds,
          l.devices,
          l.sessions,
          l.lastSessionEnded,
        ]),
      );
      return moreHint(io, page);
    }
    const line = await lineOf(history, options);
    const page = await history.builds(line.line, pageOf(options));
    if (options.json) return void json(io, page);
    printTable(
      io,
      ['build', 'built', 'flows', 'devices', 'sessions', 'first seen', 'last seen', 'consent denied'],
      page.items.map((b) => [
        b.build,
        b.builtAt.slice(0, 10),
        b.flows,
        b.devices,
        b.sessions,
        b.firstSeen,
        b.lastSeen,
        b.deniedServices.join(' '),
      ]),
    );
    moreHint(io, page);
  });
}

/** `leakwatch build BUILD --line L`: what one build sends. */
export async function buildCommand(build: string, options: Options, io: CliIo): Promise<number> {
  return withHistory(options, async (history) => {
    const line = await lineOf(history, options);
    const report: BuildReport = await history.buildReport(line.line, build, { all: Boolean(options.all) });
    if (options.json) return void json(io, report);
    const b = report.build;
    io.stdout.write(
      `${b.vendor} ${b.model} ${b.lineName} build ${b.build} (built ${b.builtAt.slice(0, 10)}): ${b.flows} flows, ${b.devices} device(s), ${b.sessions} session(s)\n\nPersonal data\n`,
    );
    printTable(
      io,
      ['data type', 'sent', 'flows', 'organisations', 'countries', 'flows without consent'],
      report.dataTypes.map((t) => [
        t.dataType,
        t.exposure,
        t.flows,
        t.organisations.join(', '),
        t.countries.join(', '),
        t.flowsWithoutConsent,
      ]),
    );
    io.stdout.write('\nDestinations\n');
    printDestinations(io, report.destinations);
    if (!options.all) io.stdout.write('(--all also lists the destinations that received no personal data)\n');
  });
}

function printDestinations(io: CliIo, rows: readonly DestinationRow[]): void {
  printTable(
    io,
    [
      'data type',
      'host',
      'organisation',
      'category',
      'country',
      'transport',
      'flows',
      'first seen',
      'last seen',
      'sample',
    ],
    rows.map((d) => [
      d.dataType === NO_PERSONAL_DATA ? '(none)' : d.dataType,
      d.host,
      d.organisation,
      d.category,
      d.country,
      d.transportDetail ?? d.transport,
      d.flows,
      d.firstSeen,
      d.lastSeen,
      d.sample,
    ]),
  );
}

/**
 * `leakwatch destinations BUILD --line L`: every destination of a build (data type × host ×
 * transport, with counts, first/last seen), a page at a time; --personal-only for personal data only.
 */
export async function destinationsCommand(build: string, options: Options, io: CliIo): Promise<number> {
  return withHistory(options, async (history) => {
    const line = await lineOf(history, options);
    await history.build(line.line, build); // a build not in the history is a 404, not an empty list
    const page = await history.destinations(line.line, build, pageOf(options), {
      personalOnly: Boolean(options.personalOnly),
    });
    if (options.json) return void json(io, page);
    printDestinations(io, page.items);
    moreHint(io, page);
  });
}

const diffRows = (label: string, entries: DiffEntry[]) =>
  entries.map((e) => [
    label,
    e.dataType,
    e.host,
    e.organisation,
    e.country,
    e.before.join('+') || 'absent',
    e.after.join('+') || 'absent',
  ]);

/** `leakwatch diff FROM TO --line L`: what changed between two builds (the fix check). */
export async function diffCommand(from: string, to: string, options: Options, io: CliIo): Promise<number> {
  return withHistory(options, async (history) => {
    const line = await lineOf(history, options);
    const diff: BuildDiff = await history.diff(line.line, from, to);
    if (options.json) return void json(io, diff);
    io.stdout.write(`${line.model} ${line.lineName}: ${from} → ${to}\n\nPer data type\n`);
    printTable(
      io,
      ['data type', from, to],
      diff.dataTypes.filter((t) => t.before !== t.after).map((t) => [t.dataType, t.before, t.after]),
    );
    io.stdout.write('\nPer host\n');
    printTable(
      io,
      ['change', 'data type', 'host', 'organisation', 'country', from, to],
      [
        ...diffRows('appeared', diff.appeared),
        ...diffRows('disappeared', diff.disappeared),
        ...diffRows('now encrypted', diff.nowEncrypted),
        ...diffRows('now plaintext', diff.nowPlaintext),
      ],
    );
    io.stdout.write(`(${diff.unchanged} unchanged)\n`);
  });
}

/** `leakwatch device ID`: one device's sessions across builds. */
export async function deviceCommand(deviceId: string, options: Options, io: CliIo): Promise<number> {
  return withHistory(options, async (history) => {
    const page = await history.device(deviceId, pageOf(options));
    if (options.json) return void json(io, page);
    if (page.items.length === 0 && !options.next) {
      io.stderr.write(`no sessions of device ${deviceId} in the history\n`);
      return;
    }
    printTable(
      io,
      [
        'build',
        'built',
        'model/line',
        'session',
        'flows',
        'first seen',
        'last seen',
        'personal data',
        'in plaintext',
      ],
      page.items.map((r) => [
        r.build,
        r.builtAt.slice(0, 10),
        `${r.model} ${r.lineName}`,
        r.sessionId,
        r.flows,
        r.firstSeen,
        r.lastSeen,
        r.dataTypes.join(' '),
        r.plaintextDataTypes.join(' '),
      ]),
    );
    moreHint(io, page);
  });
}

/** `leakwatch sent --data-type T --organisation O | --country C`: which builds ever sent it there. */
export async function sentCommand(options: Options, io: CliIo): Promise<number> {
  if (!options.dataType) throw new CliUsageError('--data-type is required (e.g. imei, phone-number)');
  if (!options.organisation === !options.country)
    throw new CliUsageError('name either --organisation or --country');
  return withHistory(options, async (history) => {
    const page = await history.sent(
      {
        dataType: String(options.dataType),
        ...(options.organisation ? { organisation: String(options.organisation) } : {}),
        ...(options.country ? { country: String(options.country) } : {}),
      },
      pageOf(options),
    );
    if (options.json) return void json(io, page);
    printTable(
      io,
      ['model', 'line', 'build', 'built', 'host', 'organisation', 'country', 'transport'],
      page.items.map((r) => [
        r.model,
        r.lineName,
        r.build,
        r.builtAt.slice(0, 10),
        r.host,
        r.organisation,
        r.country ?? 'unknown',
        r.transport,
      ]),
    );
    moreHint(io, page);
  });
}

/** `leakwatch report --out FILE [--pdf FILE]`: the self-contained HTML page for a lab lead, and its PDF. */
export async function reportCommand(options: Options, io: CliIo): Promise<number> {
  if (!options.out && !options.pdf)
    throw new CliUsageError('--out or --pdf is required (e.g. --out report.html --pdf report.pdf)');
  let builds: number | undefined;
  if (options.builds !== undefined) {
    builds = Number(options.builds);
    if (!Number.isInteger(builds) || builds < 1 || builds > 100)
      throw new CliUsageError(`--builds "${options.builds}": a whole number from 1 to 100`);
  }
  return withHistory(options, async (history) => {
    const report = await collectFleetReport(history, {
      ...(options.model ? { model: String(options.model) } : {}),
      ...(options.line ? { lineName: String(options.line) } : {}),
      ...(builds ? { builds } : {}),
    });
    const page = renderFleetReport(report);
    const what = `${report.lines.length} firmware line(s), ${report.lines.reduce((n, l) => n + l.builds.length, 0)} build(s), ${report.lines.reduce((n, l) => n + l.alerts.length, 0)} alert(s)`;
    if (options.out) {
      await writeFile(String(options.out), page);
      io.stdout.write(`${options.out}: ${what}\n`);
    }
    if (options.pdf) {
      const { printToPdf } = await import('./reportPdf.ts');
      await printToPdf(page, String(options.pdf));
      io.stdout.write(`${options.pdf}: ${what} (PDF, printed by headless Chromium)\n`);
    }
  });
}
