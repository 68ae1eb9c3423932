/** Enough of a value to recognise it, never the value: first and last characters kept. */
export function mask(value: string): string {
  const v = value.trim();
  if (v.length <= 4) return '•'.repeat(v.length);
  const keep = v.length >= 12 ? 4 : 2;
  return `${v.slice(0, keep)}${'•'.repeat(Math.min(12, v.length - 2 * keep))}${v.slice(-keep)}`;
}
