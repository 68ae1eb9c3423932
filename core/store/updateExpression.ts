/**
 * Builds an UpdateExpression with a placeholder for every attribute name and value, so no
 * attribute ever collides with DynamoDB's reserved words (`sample`, `data`, `type`, …).
 */
export interface UpdateParts {
  /** SET name = value */
  readonly set?: Record<string, unknown>;
  /** SET name = if_not_exists(name, value): written by the first update only. */
  readonly setOnce?: Record<string, unknown>;
  /** ADD name value: numbers are summed, sets are unioned. */
  readonly add?: Record<string, unknown>;
  /** REMOVE name */
  readonly remove?: readonly string[];
}

export interface UpdateExpressionInput {
  UpdateExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, unknown>;
}

export function buildUpdate(parts: UpdateParts): UpdateExpressionInput {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  let n = 0;
  const placeholders = (name: string, value: unknown) => {
    const id = n++;
    names[`#a${id}`] = name;
    values[`:v${id}`] = value;
    return [`#a${id}`, `:v${id}`] as const;
  };
  const setClauses: string[] = [];
  for (const [name, value] of Object.entries(parts.set ?? {})) {
    if (value === undefined) continue;
    const [k, v] = placeholders(name, value);
    setClauses.push(`${k} = ${v}`);
  }
  for (const [name, value] of Object.entries(parts.setOnce ?? {})) {
    if (value === undefined) continue;
    const [k, v] = placeholders(name, value);
    setClauses.push(`${k} = if_not_exists(${k}, ${v})`);
  }
  const addClauses: string[] = [];
  for (const [name, value] of Object.entries(parts.add ?? {})) {
    if (value === undefined || (value instanceof Set && value.size === 0)) continue;
    const [k, v] = placeholders(name, value);
    addClauses.push(`${k} ${v}`);
  }
  const removeClauses = (parts.remove ?? []).map((name) => {
    const key = `#a${n++}`;
    names[key] = name;
    return key;
  });
  const expression = [
    setClauses.length ? `SET ${setClauses.join(', ')}` : '',
    addClauses.length ? `ADD ${addClauses.join(', ')}` : '',
    removeClauses.length ? `REMOVE ${removeClauses.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  return { UpdateExpression: expression, ExpressionAttributeNames: names, ExpressionAttributeValues: values };
}
