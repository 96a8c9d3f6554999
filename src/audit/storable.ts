import type { AuditEventInput } from './event.js';

/**
 * What PostgreSQL text/jsonb and RFC 8785 can hold: NUL dropped, lone surrogates replaced, non-finite
 * numbers nulled. Refused requests are recorded with members of their unvalidated body, and one
 * such event must not fail the whole group commit (and every other request in it).
 */
export function storable(input: AuditEventInput): AuditEventInput {
  return needsCleaning(input) ? (clean(input) as AuditEventInput) : input;
}

const SUSPECT = /[\0\uD800-\uDFFF]/;

function needsCleaning(value: unknown): boolean {
  if (typeof value === 'string') return SUSPECT.test(value);
  if (typeof value === 'number') return !Number.isFinite(value);
  if (value instanceof Date) return true;
  if (Array.isArray(value)) return value.some(needsCleaning);
  if (value && typeof value === 'object') {
    // Runs for every event: no allocation on the (usual) clean path.
    for (const key in value) {
      if (SUSPECT.test(key) || needsCleaning((value as Record<string, unknown>)[key])) return true;
    }
  }
  return false;
}

function clean(value: unknown): unknown {
  // Lone surrogates become U+FFFD (String#toWellFormed is ES2024, after this project's lib).
  if (typeof value === 'string')
    return value.replace(/\0/g, '').replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map(clean);
  if (value instanceof Date) return value.toISOString();
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [clean(k) as string, clean(v)]));
  return value;
}
