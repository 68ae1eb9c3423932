import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildScenario, REGISTRATION } from './scenario.ts';

/** Writes scenario/captures/build-N.pcap and scenario/lab/build-N.json (npm run scenario). */
const here = dirname(fileURLToPath(import.meta.url));
await mkdir(join(here, 'captures'), { recursive: true });
await mkdir(join(here, 'lab'), { recursive: true });
await writeFile(join(here, 'lab', 'registration.json'), `${JSON.stringify(REGISTRATION, null, 2)}\n`);
for (const build of buildScenario()) {
  await writeFile(join(here, 'captures', `${build.name}.pcap`), build.capture);
  await writeFile(join(here, 'lab', `${build.name}.json`), `${JSON.stringify(build.context, null, 2)}\n`);
  console.log(
    `scenario/captures/${build.name}.pcap  ${build.capture.length} bytes  (${build.context.firmware.build})`,
  );
}
