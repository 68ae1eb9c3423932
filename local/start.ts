import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LabContextSchema } from '../schema/flowRecord.ts';
import { formatReport, runLocalPipeline } from './localPipeline.ts';

/** `npm start`: replays the bundled scenario through the local pipeline and prints what it found. */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SCENARIO_BUILDS = ['build-1', 'build-2', 'build-3'];

async function main(): Promise<number> {
  let values: { 'data-dir'?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      options: { 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (error) {
    console.error(`npm start: ${(error as Error).message}\nUsage: npm start [-- --data-dir DIR]`);
    return 2;
  }
  if (values.help) {
    console.log(
      'Usage: npm start [-- --data-dir DIR]\n\nReplays the bundled RedMi 1S scenario (scenario/) through probe → Kinesis → ingest → DynamoDB\non local emulators, prints alerts and a per-build summary. History is kept in DIR\n(default: $LEAKWATCH_DATA_DIR or .leakwatch/); Slack gets alerts when LEAKWATCH_SLACK_WEBHOOK is set.',
    );
    return 0;
  }
  const dataDir = resolve(values['data-dir'] ?? process.env.LEAKWATCH_DATA_DIR ?? join(root, '.leakwatch'));
  const captures = await Promise.all(
    SCENARIO_BUILDS.map(async (name) => ({
      path: join(root, 'scenario', 'captures', `${name}.pcap`),
      context: LabContextSchema.parse(
        JSON.parse(await readFile(join(root, 'scenario', 'lab', `${name}.json`), 'utf8')),
      ),
    })),
  );
  const slack = process.env.LEAKWATCH_SLACK_WEBHOOK;
  // The lab registers the test device's identifiers and the session's canaries before testing.
  const registration = JSON.parse(await readFile(join(root, 'scenario', 'lab', 'registration.json'), 'utf8'));
  const result = await runLocalPipeline({
    dataDir,
    captures,
    registrations: [registration],
    ...(slack ? { slackWebhookUrl: slack } : {}),
  });
  console.log(formatReport(result));
  return 0;
}

process.exitCode = await main();
