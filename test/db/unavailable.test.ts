import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../../src/db/unavailable.js';
import { toAppError } from '../../src/plugins/errors.js';

describe('isDatabaseUnavailable', () => {
  it.each([
    [{ code: 'ECONNREFUSED' }],
    [{ code: '57P01', message: 'terminating connection due to administrator command' }],
    [{ code: '08006' }],
    [new Error('Connection terminated unexpectedly')],
    [new Error('timeout exceeded when trying to connect')],
  ])('recognises %o as an outage, answered 503 NOT_READY', (err) => {
    expect(isDatabaseUnavailable(err)).toBe(true);
    expect(toAppError(err as Error)).toMatchObject({ code: 'NOT_READY', status: 503 });
  });

  it.each([[{ code: '23505' }], [new Error('boom')], [null], ['text']])('leaves %o to be an internal error', (err) => {
    expect(isDatabaseUnavailable(err)).toBe(false);
  });
});
