/** A JSON object: not null, not an array. The one plain-object check of the code base (issue 11.7). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
