import { type ParseArgsConfig, parseArgs } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * A bench script's flags, parsed strictly: an unknown flag or a missing value prints what was
 * wrong and the flags the script takes (not a stack trace) and exits 2.
 */
export function benchArgs<const T extends Options>(script: string, options: T) {
  try {
    return parseArgs({ options, strict: true, allowPositionals: false });
  } catch (error) {
    const flags = Object.entries(options)
      .map(([name, option]) => {
        const shown = option.type === 'boolean' ? `--${name}` : `--${name} <value>`;
        return option.default === undefined || option.type === 'boolean'
          ? `  ${shown}`
          : `  ${shown} (default ${String(option.default)})`;
      })
      .join('\n');
    console.error(`${script}: ${(error as Error).message}\nflags:\n${flags}`);
    process.exit(2);
  }
}
