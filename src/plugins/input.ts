import type { Ajv } from 'ajv';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { problem } from '../errors.js';

/**
 * Input rules every route shares (README, "Input rules"; issue 9). They hold for routes added later
 * too, because they are checked once here and in the schema compiler, not route by route.
 *
 * Text: no string anywhere in a request — body, query, path parameters, member names — may hold
 * U+0000 or a lone surrogate. PostgreSQL cannot store either in `text`/`jsonb` (it fails with
 * "invalid byte sequence" or "unsupported Unicode escape sequence", a 500), and neither is a valid
 * Unicode scalar value, so the request is refused with 400 before anything reaches the database.
 */
const UNSAFE_TEXT = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether any string (or member name) in `value` holds NUL or a lone surrogate: no paths built, nothing allocated. */
function hasUnsafeText(value: unknown): boolean {
  if (typeof value === 'string') return UNSAFE_TEXT.test(value);
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (hasUnsafeText(value[i])) return true;
    return false;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (UNSAFE_TEXT.test(key) || hasUnsafeText((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/** Where in `value` the first string (or member name) with NUL or a lone surrogate sits, or null. */
export function findUnsafeText(value: unknown, path = ''): string | null {
  // Almost every request is clean: only a request that is not walks again to name the place.
  if (path === '' && !hasUnsafeText(value)) return null;
  if (typeof value === 'string') return UNSAFE_TEXT.test(value) ? path || '/' : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnsafeText(value[i], `${path}/${i}`);
      if (found !== null) return found;
    }
    return null;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, member] of Object.entries(value)) {
      // The name is not echoed: it is the offending text itself.
      if (UNSAFE_TEXT.test(key)) return `${path}/<member name>`;
      const found = findUnsafeText(member, `${path}/${key}`);
      if (found !== null) return found;
    }
  }
  return null;
}

/** Throws 400 VALIDATION_FAILED when `value` holds NUL or a lone surrogate anywhere. */
export function assertSafeText(value: unknown, where: string): void {
  const found = findUnsafeText(value);
  if (found !== null) {
    throw problem(
      'VALIDATION_FAILED',
      `${where}${found === '/' ? '' : found} holds U+0000 or an unpaired surrogate, which no text member may contain`,
    );
  }
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|([+-])(\d{2}):(\d{2}))$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** 0001-01-01T00:00:00Z (Date.UTC would read year 1 as 1901). */
const MIN_INSTANT = Date.parse('0001-01-01T00:00:00Z');
const MAX_INSTANT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

function validDay(year: number, month: number, day: number): boolean {
  if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1) return false;
  const d = new Date(Date.UTC(2000, month - 1, day));
  d.setUTCFullYear(year);
  return d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
}

/**
 * `format: date` as the gateway accepts it: RFC 3339 full-date, years 0001–9999 (PostgreSQL has no
 * year 0, and JavaScript would read one).
 */
export function isGatewayDate(value: string): boolean {
  const m = DATE.exec(value);
  return m !== null && validDay(Number(m[1]), Number(m[2]), Number(m[3]));
}

/**
 * `format: date-time` as the gateway accepts it: RFC 3339 with an offset, years 0001–9999 (also
 * after applying the offset) and seconds 00–59. A leap second (`23:59:60`) is valid RFC 3339 but has
 * no `Date` and no PostgreSQL `timestamptz`; it is refused rather than silently moved.
 */
export function isGatewayDateTime(value: string): boolean {
  const m = DATE_TIME.exec(value);
  if (m === null) return false;
  if (!validDay(Number(m[1]), Number(m[2]), Number(m[3]))) return false;
  if (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59) return false;
  if (m[9] !== undefined && (Number(m[10]) > 23 || Number(m[11]) > 59)) return false;
  const instant = Date.parse(value.replace(' ', 'T'));
  return Number.isFinite(instant) && instant >= MIN_INSTANT && instant <= MAX_INSTANT;
}

/** Ajv plugin (Fastify's `ajv.plugins`, after ajv-formats) that makes the shared schemas use these formats. */
export function gatewayFormats(ajv: Ajv): Ajv {
  return ajv
    .addFormat('date-time', { type: 'string', validate: isGatewayDateTime })
    .addFormat('date', { type: 'string', validate: isGatewayDate });
}

async function inputPlugin(app: FastifyInstance) {
  // Requests that arrive during shutdown are refused in src/app.ts (onRequest), before this runs.

  // preValidation: after parsing (so form and JSON bodies alike) and before the schema, the
  // handler, the audit listener or the database ever see the values.
  app.addHook('preValidation', (request, _reply, done) => {
    try {
      assertSafeText(request.params, 'path');
      assertSafeText(request.query, 'query');
      assertSafeText(request.body, 'body');
    } catch (err) {
      return done(err as Error);
    }
    done();
  });
}

export default fp(inputPlugin, { name: 'input', fastify: '5.x', dependencies: ['errors'] });
