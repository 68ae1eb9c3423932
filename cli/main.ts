import { Command, CommanderError, Option } from 'commander';
import { HistoryQueryError } from '../core/history/historyQueryError.ts';
import { EXIT } from '../probe/exitCodes.ts';
import { PROBE_VERSION } from '../probe/version.ts';
import { CliUsageError } from './cliUsageError.ts';
import { REGISTER_FLAGS } from './registerFlags.ts';

// Each command's module is loaded when that command runs: a start loads commander and the option
// tables only, not the AWS SDK clients a history or devices command needs (the probe starts ~0.4 s
// sooner, which is a tenth of its run on a 200 MB capture).
const probeModule = () => import('../probe/probeCommand.ts');
const alertsModule = () => import('./alertsCommand.ts');
const archiveModule = () => import('./archiveCommand.ts');
const devicesModule = () => import('./devicesCommand.ts');
const historyModule = () => import('./historyCommands.ts');

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The `leakwatch` command line. Returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = new Command('leakwatch')
    .description('What personal data lab devices send, build by build.')
    .version(PROBE_VERSION, '-V, --version', 'print the version')
    .exitOverride()
    // A subcommand's options are its own: `alerts verify ID --data-dir X` is verify's --data-dir
    // (without this the parent `alerts` took it and verify silently used the default store).
    .enablePositionalOptions()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

  program
    .command('probe')
    .description('Decode pcap captures into flow records and send them to Kinesis (or stdout as NDJSON).')
    .argument(
      '[captures...]',
      'pcap or pcapng files (gzip or not), HAR files (mitmproxy, browsers, Charles); - reads a capture from stdin',
    )
    .option(
      '--listen <url>',
      "live input: udp://HOST:PORT (PCAPdroid's UDP exporter) or tcp://HOST:PORT (pcap over TCP); runs until Ctrl-C",
    )
    .option('--lab-config <file>', 'JSON file with device, firmware and session (flags override it)')
    .option('--device-id <id>', "lab's identifier of the device")
    .option('--vendor <name>', 'device vendor, e.g. Xiaomi')
    .option('--model <name>', 'device model, e.g. "RedMi 1S"')
    .option('--sim-region <CC>', "ISO country of the device's SIM, for national phone numbers")
    .option('--firmware-line <line>', 'firmware line whose builds are compared')
    .option('--build <build>', 'firmware build identifier')
    .option('--built-at <iso>', 'build date (ISO 8601, UTC), orders builds within a line')
    .option('--session-id <id>', 'lab session id')
    .option('--consent <service=state>', 'consent per service, repeatable: granted or denied', collect)
    .option(
      '--consent-profile <name>',
      'named consent states for the session (out-of-box, vendor-account, or your own); --consent overrides',
    )
    .option(
      '--consent-profiles <file>',
      "the lab's own consent profiles (JSON; default $LEAKWATCH_CONSENT_PROFILES)",
    )
    .option(
      '--catalog <file>',
      "the deployment's own destination catalog, whose services are valid consent keys (default $LEAKWATCH_CATALOG)",
    )
    .addOption(new Option('--kinesis-stream <name-or-arn>', 'put records on this Kinesis stream'))
    .option(
      '--kinesis-endpoint <url>',
      'a Kinesis-compatible endpoint instead of AWS: leakwatch serve (http://HOST:4567) or an emulator',
    )
    .addOption(new Option('--endpoint <url>', 'older name of --kinesis-endpoint').hideHelp())
    .option('--aws-region <region>', 'AWS region of the stream (default: the AWS SDK chain)')
    .option('--ndjson', 'write NDJSON to stdout (the default when no stream is given)')
    .option(
      '--spool-dir <dir>',
      'where records wait while the stream is unreachable (default ~/.leakwatch/spool/<stream>)',
    )
    .option('--send-spool', 'send what is spooled for the stream, read no capture')
    .option(
      '--threads <n>',
      'flow-table threads for capture files (default: the cores available, at most 4, for files of 16 MB or more; 1 below). Live input is read by one thread',
    )
    .option(
      '--keylog <file>',
      'NSS key log (SSLKEYLOGFILE) whose secrets decrypt TLS 1.2/1.3 flows of the captures, repeatable; pcapng secrets blocks are read too',
      collect,
    )
    .option(
      '--allow <address>',
      'UDP listener: take datagrams from this sender too, repeatable (default: only the address that sent the first pcap header)',
      collect,
    )
    .addHelpText(
      'after',
      `
Exit codes: 0 done, 1 records could not be delivered, 2 bad flag or lab config, 3 capture missing or corrupt,
75 some records are spooled on disk (the stream was unreachable; sent by the next run or --send-spool).

Examples:
  leakwatch probe --lab-config scenario/lab/build-2.json scenario/captures/build-2.pcap
  leakwatch probe --lab-config lab.json capture.pcapng.gz mitmproxy-export.har
  leakwatch probe --lab-config lab.json --listen udp://0.0.0.0:5123 --kinesis-stream leakwatch-flows
  leakwatch probe --lab-config lab.json --keylog sslkeys.log capture.pcapng
  leakwatch probe --device-id lab-07 --vendor Xiaomi --model "RedMi 1S" --firmware-line miui-cn \\
      --build V5.3.1.0 --built-at 2014-08-01T00:00:00Z --session-id s1 \\
      --consent xiaomi.cloud-messaging=denied --kinesis-stream leakwatch-flows capture.pcap`,
    )
    .action(async (captures: string[], options) => {
      exitCode = await (await probeModule()).probeCommand(captures, options, process);
    });

  program
    .command('run')
    .description(
      'Run your own captures through the local pipeline (no AWS): probe, stream, ingest, history, alerts and notifications on this machine, then a per-build summary',
    )
    .argument(
      '[captures...]',
      'pcap, pcapng or HAR files (gzip or not), each after the --lab-config that describes it',
    )
    .option(
      '--lab-config <file>',
      'lab config (device, firmware build, session) of the captures that follow it; repeat it for each build',
      collect,
    )
    .option(
      '--manifest <file>',
      'a JSON file listing runs ({ labConfig, captures }) and registrations, paths relative to it',
    )
    .option(
      '--register <file>',
      "a device's identifiers and canaries to register first (JSON, digests only are kept)",
      collect,
    )
    .option(
      '--keylog <file>',
      'NSS key log (SSLKEYLOGFILE) whose secrets decrypt the TLS flows of the captures, repeatable',
      collect,
    )
    .option(
      '--data-dir <dir>',
      'the local store (default: $LEAKWATCH_DATA_DIR or .leakwatch); a later run adds to it',
    )
    .option(
      '--consent-profiles <file>',
      "the lab's own consent profiles (default $LEAKWATCH_CONSENT_PROFILES)",
    )
    .option('--catalog <file>', "the deployment's own destination catalog (default $LEAKWATCH_CATALOG)")
    .addHelpText(
      'after',
      `
Each capture is read by the probe under the lab config before it; the captures of one lab config are
one session. Sessions run in build-date order (firmware.builtAt), whatever order they are given in, so
each build is compared with the one before it and a fixed build resolves what an earlier one raised.
Notifications, one per incident (firmware line, build, destination organisation and event), go to the
console, <data dir>/alerts-outbox.jsonl and Slack: as a Slack app when LEAKWATCH_SLACK_TOKEN (xoxb-…)
and LEAKWATCH_SLACK_CHANNEL are set (an incident's later messages go into its thread), else to the
incoming webhook in LEAKWATCH_SLACK_WEBHOOK.

Exit codes: 0 done, 1 records dead-lettered or too large to send (kept in <data dir>/oversized), 2 bad flag, lab config, registration or manifest (nothing run),
3 a capture missing or damaged, 75 notifications left pending (a channel unreachable; the next run delivers them).

Examples:
  leakwatch run --register lab/phone-07.json --lab-config lab/build-411.json b411.pcapng \\
      --lab-config lab/build-412.json b412.pcapng b412-app.har
  leakwatch run --manifest scenario/manifest.json          # what npm start runs`,
    )
    .action(async (_captures: string[], options) => {
      exitCode = await (await import('./runCommand.ts')).runCommand(
        argv.slice(argv.indexOf('run') + 1),
        options,
        process,
      );
    });

  program
    .command('check')
    .description(
      "Firmware CI gate: run one build's capture through the local pipeline and fail (exit 1) when the build raises an alert against its baseline",
    )
    .argument('[captures...]', 'pcap, pcapng or HAR files of the build (gzip or not), after --lab-config')
    .option('--lab-config <file>', 'lab config (device, firmware build, session) of the captures', collect)
    .option(
      '--baseline <build>',
      "compare with this build of the line (default: the line's previous build by date)",
    )
    .option('--junit <file>', 'write JUnit XML: one test case per rule × data type × destination')
    .option('--sarif <file>', 'write SARIF 2.1.0 (code-scanning dashboards): one result per regression')
    .option('--register <file>', "a device's identifiers and canaries to register first (JSON)", collect)
    .option(
      '--keylog <file>',
      'NSS key log (SSLKEYLOGFILE) whose secrets decrypt the TLS flows of the captures, repeatable',
      collect,
    )
    .option(
      '--data-dir <dir>',
      "the local store holding the line's earlier builds (default: $LEAKWATCH_DATA_DIR or .leakwatch)",
    )
    .option(
      '--consent-profiles <file>',
      "the lab's own consent profiles (default $LEAKWATCH_CONSENT_PROFILES)",
    )
    .option('--catalog <file>', "the deployment's own destination catalog (default $LEAKWATCH_CATALOG)")
    .addOption(new Option('--manifest <file>').hideHelp())
    .addHelpText(
      'after',
      `
The build's flows join the history in the data directory (as with leakwatch run), so the baseline
build must be there already: run its capture with leakwatch run (or check) first.

Exit codes: 0 nothing new against the baseline, 1 the build regresses (each regression printed),
2 bad flag, lab config or baseline, 3 the capture could not be read whole (nothing judged).

Example (in a firmware team's CI):
  leakwatch run --lab-config lab/build-411.json b411.pcapng              # the release
  leakwatch check --lab-config lab/build-412.json b412.pcapng --baseline V411 \\
      --junit reports/leakwatch.xml --sarif reports/leakwatch.sarif`,
    )
    .action(async (_captures: string[], options) => {
      exitCode = await (await import('./checkCommand.ts')).checkCommand(
        argv.slice(argv.indexOf('check') + 1),
        options,
        process,
      );
    });

  program
    .command('serve')
    .description(
      'Keep the local stack running for live collection without AWS: a Kinesis endpoint probes on other lab hosts stream into, ingest and alerts as records arrive',
    )
    .option(
      '--host <address>',
      'where the Kinesis endpoint listens (0.0.0.0: every interface, for other lab hosts)',
      '127.0.0.1',
    )
    .option('--port <port>', 'Kinesis endpoint port (0: any free port)', '4567')
    .option('--data-dir <dir>', 'the local store (default: $LEAKWATCH_DATA_DIR or .leakwatch)')
    .option('--register <file>', "a device's identifiers and canaries to register first (JSON)", collect)
    .option('--catalog <file>', "the deployment's own destination catalog (default $LEAKWATCH_CATALOG)")
    .addOption(new Option('--poll-ms <ms>', 'how often the stream is polled').default('250').hideHelp())
    .addHelpText(
      'after',
      `
Records the endpoint accepted are kept on disk until ingested: Ctrl-C (or SIGTERM) stops after the
batch under way and the pending notifications, and a restart goes on where it stopped. The history
commands (alerts, builds, report, …) on the same data directory read the store through serve while it
runs. Devices registered meanwhile (leakwatch devices register) are picked up.

Examples:
  leakwatch serve --host 0.0.0.0 --register lab/phone-07.json
  leakwatch probe --kinesis-endpoint http://lab-server:4567 --kinesis-stream leakwatch-flows-local \\
      --lab-config lab/build-412.json capture.pcapng                   # on another lab host`,
    )
    .action(async (options) => {
      exitCode = await (await import('./serveCommand.ts')).serveCommand(options, process);
    });

  const devices = program
    .command('devices')
    .description("Register lab devices' identifiers and canaries (stored as keyed digests only).");
  const collectValues = (value: string, previous: string[] = []) => [...previous, value];
  const register = devices
    .command('register')
    .description('Add identifiers of a device and canaries of a test session to the registry')
    .requiredOption('--device-id <id>', "the lab's identifier of the device (as in the probe's --device-id)")
    .option('--data-dir <dir>', 'local registry location (default: $LEAKWATCH_DATA_DIR or .leakwatch)')
    .option(
      '--stack <name>',
      'register on a deployed stack instead (its table; key from Secrets Manager; AWS credential chain)',
    )
    .option('--aws-region <region>', 'region of the stack (default: the AWS SDK chain)');
  for (const [flag, , , , help] of REGISTER_FLAGS) register.option(flag, help, collectValues);
  register
    .addHelpText(
      'after',
      `
Only keyed digests (HMAC-SHA-256, key in <data dir>/digest.key) of each value, its usual written forms
and their MD5/SHA-1/SHA-256 are stored; the values themselves are not.

Example:
  leakwatch devices register --device-id lab-redmi1s-01 --imei 864690020123454 --phone "+86 138 0013 8000" \\
      --canary-contact-number "+86 139 1099 8765" --canary-sms "leakwatch canary 7f3a: meet at 6"`,
    )
    .action(async (options) => {
      exitCode = await (await devicesModule()).devicesRegister(options, process);
    });
  devices
    .command('list')
    .description('Registered devices and how many values of each type (never the values)')
    .option('--data-dir <dir>', 'registry location (default: $LEAKWATCH_DATA_DIR or .leakwatch)')
    .option('--json', 'JSON output')
    .action(async (options) => {
      exitCode = await (await devicesModule()).devicesList(options, process);
    });

  const storeOptions = (command: Command) =>
    command
      .option('--data-dir <dir>', 'local store (default: $LEAKWATCH_DATA_DIR or .leakwatch, as npm start)')
      .option('--stack <name>', "a deployed stack's table instead (AWS credential chain)")
      .option('--aws-region <region>', 'region of the stack (default: the AWS SDK chain)');
  /** Runs a store command: a bad flag or question exits 2, something not in the history 1. */
  const runOn = (name: string) => async (work: () => Promise<number>) => {
    try {
      exitCode = await work();
    } catch (error) {
      if (error instanceof CliUsageError || error instanceof HistoryQueryError) {
        const hint = error instanceof HistoryQueryError && error.hint ? ` (${error.hint})` : '';
        process.stderr.write(`leakwatch ${name}: ${error.message}${hint}\n`);
        exitCode = error instanceof HistoryQueryError && error.status === 404 ? EXIT.delivery : EXIT.usage;
        return;
      }
      throw error;
    }
  };
  const runAlerts = runOn('alerts');
  const alerts = storeOptions(
    program
      .command('alerts')
      .description('Alerts of every firmware line: state, severity, verdict, where raised and resolved')
      .option('--state <state>', 'open or resolved')
      .option('--severity <severity>', 'high, medium or low')
      .option('--model <model>', 'only this device model')
      .option('--line <line>', 'only this firmware line')
      .option('--json', 'JSON output'),
  ).action(async (options) => runAlerts(async () => (await alertsModule()).alertsList(options, process)));
  storeOptions(
    alerts
      .command('verify')
      .description(
        "Set the lab's verdict on an alert; benign-positive and false-positive suppress it in later builds",
      )
      .argument('<alert-id>', 'the id leakwatch alerts shows (A…)')
      .requiredOption('--as <verdict>', 'true-positive, benign-positive, false-positive or unknown')
      .option('--note <text>', 'why'),
  )
    .addHelpText(
      'after',
      '\nExample:\n  leakwatch alerts verify A1b2c3d4e5f6 --as benign-positive --note "documented OTA check"',
    )
    // `alerts --data-dir X verify ID` gives the option to the parent: merged in.
    .action(async (alertId: string, _options, command: Command) =>
      runAlerts(async () => (await alertsModule()).alertsVerify(alertId, command.optsWithGlobals(), process)),
    );

  const pages = (command: Command) =>
    command
      .option('--limit <n>', 'items per page (1-1000, default 100)')
      .option('--next <token>', 'the next page (the token the previous page printed)');
  const lineOptions = (command: Command) =>
    command
      .option('--line <line>', 'firmware line (as leakwatch builds lists it)')
      .option('--model <model>', 'device model, when several models share the line name')
      .option('--vendor <vendor>', 'device vendor, when needed to tell lines apart');
  storeOptions(
    pages(
      lineOptions(
        program
          .command('builds')
          .description(
            'Firmware lines with their builds, devices and sessions; with --line, its builds newest first',
          ),
      ),
    ).option('--json', 'JSON output'),
  ).action(async (options) =>
    runOn('builds')(async () => (await historyModule()).buildsCommand(options, process)),
  );
  storeOptions(
    lineOptions(
      program
        .command('build')
        .description('What one build sends: personal data by data type, destinations × data type × transport')
        .argument('<build>', 'build identifier'),
    )
      .option('--all', 'also list destinations that received no personal data')
      .option('--json', 'JSON output'),
  )
    .addHelpText('after', '\nExample:\n  leakwatch build KHHCNBH39.0 --line MIUI-V5-CN-stable')
    .action(async (build: string, options) =>
      runOn('build')(async () => (await historyModule()).buildCommand(build, options, process)),
    );
  storeOptions(
    lineOptions(
      program
        .command('diff')
        .description(
          'What changed between two builds of a line: personal data that appeared, disappeared, or moved between plaintext and encryption',
        )
        .argument('<from>', 'the earlier build')
        .argument('<to>', 'the later build'),
    ).option('--json', 'JSON output'),
  )
    .addHelpText(
      'after',
      '\nExample (did the fix work?):\n  leakwatch diff KHHCNBH39.0 KHHCNBH40.0 --line MIUI-V5-CN-stable',
    )
    .action(async (from: string, to: string, options) =>
      runOn('diff')(async () => (await historyModule()).diffCommand(from, to, options, process)),
    );
  storeOptions(
    lineOptions(
      pages(
        program
          .command('destinations')
          .description(
            "A build's destinations: data type × host × transport, with counts and first/last seen, a page at a time",
          )
          .argument('<build>', 'firmware build')
          .option('--personal-only', 'only destinations that received personal data'),
      ),
    ).option('--json', 'JSON output'),
  ).action(async (build: string, options) =>
    runOn('destinations')(async () => (await historyModule()).destinationsCommand(build, options, process)),
  );
  storeOptions(
    pages(
      program
        .command('device')
        .description("One device's sessions across builds: flows, personal data, what went in plaintext")
        .argument('<device-id>', "the lab's device id"),
    ).option('--json', 'JSON output'),
  ).action(async (deviceId: string, options) =>
    runOn('device')(async () => (await historyModule()).deviceCommand(deviceId, options, process)),
  );
  storeOptions(
    pages(
      program
        .command('sent')
        .description('Which builds ever sent a data type to an organisation or a country')
        .option('--data-type <type>', 'imei, imsi, phone-number, contact, sms-content, location, …')
        .option('--organisation <name>', 'organisation as the catalog names it (e.g. Xiaomi)')
        .option('--country <CC>', 'ISO country of the server address (ZZ: unknown)'),
    ).option('--json', 'JSON output'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  leakwatch sent --data-type imei --organisation Xiaomi\n  leakwatch sent --data-type imei --country CN',
    )
    .action(async (options) =>
      runOn('sent')(async () => (await historyModule()).sentCommand(options, process)),
    );
  storeOptions(
    program
      .command('report')
      .description(
        'One self-contained HTML page: a summary, then per firmware line a timeline of builds and incidents, the build × data type grid, the latest build against its baseline, destinations by organisation and country, devices and alerts',
      )
      .option('--out <file>', 'where to write the page (e.g. report.html)')
      .option(
        '--pdf <file>',
        'also (or only) print it to PDF with headless Chromium ($LEAKWATCH_CHROMIUM or chromium on the PATH)',
      )
      .option('--model <model>', 'only lines of this model')
      .option('--line <line>', 'only this firmware line')
      .option('--builds <n>', 'newest builds per line in the grid (default 20)'),
  )
    .addHelpText(
      'after',
      '\nExit codes: 0 written, 2 bad flag, no store, or --pdf without Chromium.\n\nExamples:\n  leakwatch report --out report.html\n  leakwatch report --out report.html --pdf report.pdf --line MIUI-V5-CN-stable',
    )
    .action(async (options) =>
      runOn('report')(async () => (await historyModule()).reportCommand(options, process)),
    );
  storeOptions(
    program
      .command('verify')
      .description("Same as leakwatch alerts verify: set the lab's verdict on an alert")
      .argument('<alert-id>', 'the id leakwatch alerts shows (A…)')
      .requiredOption('--as <verdict>', 'true-positive, benign-positive, false-positive or unknown')
      .option('--note <text>', 'why'),
  ).action(async (alertId: string, options) =>
    runOn('verify')(async () => (await alertsModule()).alertsVerify(alertId, options, process)),
  );

  const archive = program
    .command('archive')
    .description(
      'The flow archive (years of flows): saved queries on Athena (--stack) or, locally, on the Parquet files under the data directory',
    );
  storeOptions(archive.command('queries').description('List the saved queries and their parameters'))
    .option('--json', 'JSON output')
    .action(async (options) =>
      runOn('archive queries')(async () => (await archiveModule()).archiveQueriesCommand(options, process)),
    );
  storeOptions(
    archive
      .command('query')
      .description('Run a saved query')
      .argument('<name>', 'a saved query (leakwatch archive queries lists them)')
      .option('--param <name=value>', 'a parameter of the query, repeatable', collect),
  )
    .option('--json', 'JSON output')
    .addHelpText(
      'after',
      '\nExamples:\n  leakwatch archive query data-by-build --param model="RedMi 1S" --param since=2014-08-01\n  leakwatch archive query fleet-to-country --param country=CN --param since=2026-01-01 --stack leakwatch',
    )
    .action(async (name: string, options) =>
      runOn('archive query')(async () => (await archiveModule()).archiveQueryCommand(name, options, process)),
    );

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit 0; every other commander error is a usage error.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    throw error;
  }
  return exitCode;
}
