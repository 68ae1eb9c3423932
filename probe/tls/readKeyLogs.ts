import { readFile, stat } from 'node:fs/promises';
import { ProbeUsageError } from '../errors.ts';
import { TlsKeyLog } from './keyLog.ts';

/** Key logs larger than this are not key logs (a capture given by mistake, say). */
const MAX_KEY_LOG_BYTES = 256 * 1024 * 1024;

/**
 * Reads the `--keylog` files into one key log. A file that cannot be read, or holds lines but not
 * one usable secret (a capture given by mistake, a mangled copy), is a usage error naming the file
 * and the first problem's line; an empty one is reported. Secrets never appear in a message.
 */
export async function readKeyLogs(paths: readonly string[], say: (line: string) => void): Promise<TlsKeyLog> {
  const keyLog = new TlsKeyLog();
  for (const path of paths) {
    let text: string;
    try {
      const info = await stat(path);
      if (info.isDirectory()) throw new ProbeUsageError(`cannot read key log ${path}: it is a directory`);
      if (info.size > MAX_KEY_LOG_BYTES)
        throw new ProbeUsageError(
          `key log ${path} is ${info.size} bytes: more than a key log holds (an NSS key log is text, ~200 bytes per connection)`,
        );
      text = await readFile(path, 'latin1');
    } catch (error) {
      if (error instanceof ProbeUsageError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code);
      throw new ProbeUsageError(`cannot read key log ${path}: ${why}`, { cause: error });
    }
    const before = { secrets: keyLog.secrets, problems: keyLog.problemCount, kept: keyLog.problems.length };
    keyLog.addText(text, path);
    const problems = keyLog.problemCount - before.problems;
    if (keyLog.secrets === before.secrets) {
      if (problems === 0) {
        say(`key log ${path} holds no secrets (empty): no TLS flow is decrypted with it`);
        continue;
      }
      const first = keyLog.problems[before.kept];
      throw new ProbeUsageError(
        `key log ${path}: not one usable line of the NSS key log format (LABEL <client random hex> <secret hex>); ${problems} lines skipped${first ? `, the first: line ${first.line}: ${first.reason}` : ''}`,
      );
    }
  }
  if (paths.length > 0) say(`key logs: ${keyLog.summary()}`);
  return keyLog;
}
