import { safeParse } from 'zod/mini';
import type * as core from 'zod/v4/core';

/**
 * Strict parsing of the files a lab writes by hand (lab configs, registrations, catalogs, consent
 * profiles, run manifests): the schemas are `z.strictObject`s, so a mistyped key is an error, and
 * every problem is reported with its place in the file and, for a key that is not known, the
 * nearest known key ("did you mean").
 */

/** Levenshtein distance (insertions, deletions, substitutions), early exit past `max`. */
export function editDistance(a: string, b: string, max = Number.POSITIVE_INFINITY): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      current.push(value);
      rowMin = Math.min(rowMin, value);
    }
    if (rowMin > max) return max + 1;
    previous = current;
  }
  return previous[b.length]!;
}

/** The known word nearest to `word` (case-insensitive), if it is close enough to be a typo. */
export function nearest(word: string, known: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  const max = Math.max(2, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = max + 1;
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase(), max);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** `unknown service "x" (did you mean "y"?)`, the suggestion only when there is a close one. */
export function unknownName(kind: string, name: string, known: readonly string[]): string {
  const suggestion = nearest(name, known);
  return `unknown ${kind} "${name}"${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`;
}

// The object schema at a path, to list the keys it knows (for unrecognised-key messages).
function schemaAt(schema: core.$ZodType, path: readonly PropertyKey[]): core.$ZodType | undefined {
  let current: core.$ZodType | undefined = schema;
  for (const segment of path) {
    current = current && unwrap(current);
    if (!current) return undefined;
    const def = current._zod.def as unknown as Record<string, unknown>;
    if (def.type === 'object') current = (def.shape as Record<string, core.$ZodType>)[String(segment)];
    else if (def.type === 'array') current = def.element as core.$ZodType;
    else if (def.type === 'record') current = def.valueType as core.$ZodType;
    else return undefined;
  }
  return current && unwrap(current);
}

function unwrap(schema: core.$ZodType): core.$ZodType {
  let current = schema;
  for (;;) {
    const def = current._zod.def as unknown as Record<string, unknown>;
    if (def.type === 'optional' || def.type === 'nullable' || def.type === 'default')
      current = def.innerType as core.$ZodType;
    else if (def.type === 'pipe') current = def.in as core.$ZodType;
    else return current;
  }
}

/** `session.consent`, `values[2].dataType`; `(top level)` for the root. */
export function pathText(path: readonly PropertyKey[]): string {
  let text = '';
  for (const segment of path)
    text += typeof segment === 'number' ? `[${segment}]` : `${text ? '.' : ''}${String(segment)}`;
  return text || '(top level)';
}

/** One line per problem: where, what, and for an unknown key the known keys and the nearest one. */
export function describeIssues(schema: core.$ZodType, error: core.$ZodError): string[] {
  const lines: string[] = [];
  for (const issue of error.issues) {
    const where = pathText(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const object = schemaAt(schema, issue.path);
      const shape = (object?._zod.def as unknown as { shape?: Record<string, unknown> } | undefined)?.shape;
      const known = shape ? Object.keys(shape) : [];
      for (const key of issue.keys) {
        lines.push(
          `${where}: ${unknownName('key', key, known)}${known.length ? `; known keys here: ${known.join(', ')}` : ''}`,
        );
      }
      continue;
    }
    lines.push(`${where}: ${issue.message}`);
  }
  return lines;
}

export class ConfigFileError extends Error {
  override name = 'ConfigFileError';
}

/**
 * Parses `text` (a file's content) as JSON and then with `schema`; throws ConfigFileError naming
 * the file, what kind of file it should be, and every problem in it.
 */
export function parseConfigText<S extends core.$ZodType>(
  schema: S,
  text: string,
  what: string,
  path: string,
): core.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigFileError(`${what} ${path} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return parseConfigValue(schema, json, what, path);
}

/** As parseConfigText, for JSON already parsed. */
export function parseConfigValue<S extends core.$ZodType>(
  schema: S,
  json: unknown,
  what: string,
  path: string,
): core.output<S> {
  const result = safeParse(schema, json);
  if (result.success) return result.data;
  const problems = describeIssues(schema, result.error);
  throw new ConfigFileError(`${what} ${path} is invalid:\n${problems.map((line) => `  ${line}`).join('\n')}`);
}
