import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CliUsageError } from './openStore.ts';

const BROWSERS = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

/** The Chromium to print with: $LEAKWATCH_CHROMIUM, else the first of the usual names on the PATH. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const executable = (path: string) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (env.LEAKWATCH_CHROMIUM) return executable(env.LEAKWATCH_CHROMIUM) ? env.LEAKWATCH_CHROMIUM : undefined;
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    for (const name of BROWSERS) if (executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * Prints a self-contained HTML page to PDF with headless Chromium (its print stylesheet applies):
 * no network (the page needs none), a fresh profile in a temporary directory, removed afterwards.
 */
export async function printToPdf(page: string, pdfPath: string, timeoutMs = 60_000): Promise<void> {
  const chromium = findChromium();
  if (!chromium) {
    throw new CliUsageError(
      '--pdf needs Chromium: install it (apt-get install chromium) or set LEAKWATCH_CHROMIUM to a Chromium or Chrome binary',
    );
  }
  const work = await mkdtemp(join(tmpdir(), 'leakwatch-pdf-'));
  try {
    const htmlPath = join(work, 'report.html');
    await writeFile(htmlPath, page);
    const out = resolve(pdfPath);
    await rm(out, { force: true });
    const args = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--no-default-browser-check',
      `--user-data-dir=${join(work, 'profile')}`,
      '--no-pdf-header-footer',
      `--print-to-pdf=${out}`,
      pathToFileURL(htmlPath).href,
    ];
    const stderr: string[] = [];
    const code = await new Promise<number | null>((done, fail) => {
      const child = spawn(chromium, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
      child.on('error', (error) => {
        clearTimeout(timer);
        fail(error);
      });
      child.on('close', (exit) => {
        clearTimeout(timer);
        done(exit);
      });
    });
    const size = (await stat(out).catch(() => undefined))?.size ?? 0;
    if (code !== 0 || size === 0) {
      const last = stderr.join('').trim().split('\n').slice(-3).join(' | ');
      throw new Error(
        `${chromium} could not print the report to ${pdfPath} (exit ${code}): ${last || 'no output'}`,
      );
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
