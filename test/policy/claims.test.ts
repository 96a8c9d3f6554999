import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkClaimAgainstSchema,
  checkClaimOrderable,
  checkClaimShape,
  evaluateClaim,
  fieldSchemaOf,
  type Claim,
} from '../../src/policy/claims.js';

const person = { name: '张三', birthDate: '1960-05-01', height: 172, married: true, spouse: null, coOwners: ['李四'] };

describe('evaluateClaim on a certificate', () => {
  it.each<[Claim, boolean]>([
    [{ field: 'name', op: 'eq', value: '张三' }, true],
    [{ field: 'name', op: 'eq', value: '李四' }, false],
    [{ field: 'name', op: 'ne', value: '李四' }, true],
    [{ field: 'married', op: 'eq', value: true }, true],
    [{ field: 'height', op: 'eq', value: 172 }, true],
    [{ field: 'height', op: 'gte', value: 172 }, true],
    [{ field: 'height', op: 'gte', value: 172.5 }, false],
    [{ field: 'height', op: 'lte', value: 180 }, true],
    [{ field: 'birthDate', op: 'lte', value: '1965-03-14' }, true],
    [{ field: 'birthDate', op: 'gte', value: '1965-03-14' }, false],
    [{ field: 'birthDate', op: 'gte', value: '1960-05-01' }, true],
    [{ field: 'name', op: 'exists' }, true],
    [{ field: 'spouse', op: 'exists' }, false],
    [{ field: 'absent', op: 'exists' }, false],
    [{ field: 'spouse', op: 'eq', value: 'x' }, false],
    [{ field: 'spouse', op: 'ne', value: 'x' }, true],
    [{ field: 'spouse', op: 'gte', value: 'x' }, false],
    [{ field: 'coOwners', op: 'eq', value: '李四' }, false],
    [{ field: 'height', op: 'eq', value: '172' }, false],
  ])('%j → %s', (claim, expected) => {
    expect(evaluateClaim('certificate', person, claim)).toEqual({ ok: true, result: expected });
  });

  it.each<Claim>([
    { field: 'height', op: 'gte', value: '170' },
    { field: 'birthDate', op: 'lte', value: 1965 },
    { field: 'married', op: 'gte', value: 1 },
    { field: 'coOwners', op: 'lte', value: 'x' },
  ])('refuses to order incompatible types: %j', (claim) => {
    const r = evaluateClaim('certificate', person, claim);
    expect(r.ok).toBe(false);
  });
});

describe('evaluateClaim on a record type', () => {
  const rows = {
    rows: [
      { month: '2025-05', base: 8000 },
      { month: '2025-06', base: 9000 },
    ],
  };
  it('holds when at least one row satisfies it', () => {
    expect(evaluateClaim('record', rows, { field: 'month', op: 'eq', value: '2025-06' })).toEqual({ ok: true, result: true });
    expect(evaluateClaim('record', rows, { field: 'month', op: 'eq', value: '2025-07' })).toEqual({ ok: true, result: false });
    expect(evaluateClaim('record', rows, { field: 'base', op: 'gte', value: 8500 })).toEqual({ ok: true, result: true });
    expect(evaluateClaim('record', rows, { field: 'base', op: 'gte', value: 9500 })).toEqual({ ok: true, result: false });
  });
  it('is false for every op on no rows', () => {
    for (const op of ['eq', 'ne', 'gte', 'lte'] as const) {
      expect(evaluateClaim('record', { rows: [] }, { field: 'base', op, value: 1 })).toEqual({ ok: true, result: false });
    }
    expect(evaluateClaim('record', { rows: [] }, { field: 'base', op: 'exists' })).toEqual({ ok: true, result: false });
  });
});

describe('claim shape and schema fit', () => {
  it.each<[Claim, boolean]>([
    [{ field: 'a', op: 'exists' }, true],
    [{ field: 'a', op: 'exists', value: 1 }, false],
    [{ field: 'a', op: 'eq' }, false],
    [{ field: 'a', op: 'eq', value: false }, true],
    [{ field: 'a', op: 'gte', value: true }, false],
    [{ field: 'a', op: 'lte', value: '2020-01-01' }, true],
  ])('shape of %j ok=%s', (claim, ok) => {
    expect(checkClaimShape(claim).ok).toBe(ok);
  });

  const certificate = {
    kind: 'certificate' as const,
    schema: {
      type: 'object',
      properties: {
        birthDate: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
        status: { type: 'string', enum: ['married', 'divorced'] },
        area: { type: 'number' },
        clear: { type: 'boolean' },
        kind: { enum: ['a', 'b'] },
        maybe: { type: ['string', 'null'] },
      },
    },
  };
  const record = {
    kind: 'record' as const,
    schema: {
      type: 'object',
      properties: { rows: { type: 'array', items: { type: 'object', properties: { base: { type: 'integer' } } } } },
    },
  };

  it('finds a field schema in a certificate and in the rows of a record type', () => {
    expect(fieldSchemaOf(certificate, 'area')).toEqual({ type: 'number' });
    expect(fieldSchemaOf(record, 'base')).toEqual({ type: 'integer' });
    expect(fieldSchemaOf(record, 'rows')).toBeUndefined();
    expect(fieldSchemaOf(certificate, 'nope')).toBeUndefined();
  });

  it.each<[string, Claim, boolean]>([
    ['date vs string', { field: 'birthDate', op: 'lte', value: '1965-01-01' }, true],
    ['date vs number', { field: 'birthDate', op: 'lte', value: 1965 }, false],
    ['number vs number', { field: 'area', op: 'gte', value: 90 }, true],
    ['number vs string', { field: 'area', op: 'gte', value: '90' }, false],
    ['boolean vs string', { field: 'clear', op: 'eq', value: 'true' }, false],
    ['boolean vs boolean', { field: 'clear', op: 'eq', value: true }, true],
    ['enum without type', { field: 'kind', op: 'eq', value: 'a' }, true],
    ['enum without type vs number', { field: 'kind', op: 'eq', value: 1 }, false],
    ['union type', { field: 'maybe', op: 'eq', value: 'x' }, true],
    ['exists never checks', { field: 'area', op: 'exists' }, true],
  ])('%s', (_label, claim, ok) => {
    expect(checkClaimAgainstSchema(claim, fieldSchemaOf(certificate, claim.field)).ok).toBe(ok);
  });

  it('treats integer columns as numbers', () => {
    expect(checkClaimAgainstSchema({ field: 'base', op: 'gte', value: 5000.5 }, fieldSchemaOf(record, 'base')).ok).toBe(true);
  });
});

describe('evaluateClaim properties', () => {
  it('ne is the negation of eq, and gte/lte agree with numeric order', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.string()), fc.oneof(fc.integer(), fc.string()), (actual, value) => {
        const rec = { f: actual };
        const eq = evaluateClaim('certificate', rec, { field: 'f', op: 'eq', value });
        const ne = evaluateClaim('certificate', rec, { field: 'f', op: 'ne', value });
        expect(eq.ok && ne.ok && eq.result !== ne.result).toBe(true);
        const gte = evaluateClaim('certificate', rec, { field: 'f', op: 'gte', value });
        const lte = evaluateClaim('certificate', rec, { field: 'f', op: 'lte', value });
        if (typeof actual !== typeof value) {
          expect(gte.ok || lte.ok).toBe(false);
          return;
        }
        expect(gte).toEqual({ ok: true, result: actual >= value });
        expect(lte).toEqual({ ok: true, result: actual <= value });
      }),
    );
  });
});

describe('checkClaimOrderable (issue 9: no ordering oracle on text)', () => {
  const number = { type: 'number' };
  const integer = { type: ['integer', 'null'] };
  const date = { type: 'string', format: 'date' };
  const dateTime = { type: 'string', format: 'date-time' };
  it.each([
    [{ field: 'f', op: 'gte', value: 1 }, number, true],
    [{ field: 'f', op: 'lte', value: 3 }, integer, true],
    [{ field: 'f', op: 'lte', value: '2020-01-01' }, date, true],
    [{ field: 'f', op: 'gte', value: '2020-01-01T00:00:00Z' }, dateTime, true],
    [{ field: 'f', op: 'lte', value: 'M' }, { type: 'string' }, false],
    [{ field: 'f', op: 'lte', value: '2020-01-01' }, { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' }, false],
    [{ field: 'f', op: 'gte', value: 'a' }, { type: 'string', enum: ['a', 'b'] }, false],
    [{ field: 'f', op: 'gte', value: '1' }, number, false],
    [{ field: 'f', op: 'gte', value: 1 }, date, false],
    [{ field: 'f', op: 'gte', value: 1 }, undefined, false],
    [{ field: 'f', op: 'gte', value: 1 }, { type: ['number', 'string'] }, false],
    [{ field: 'f', op: 'eq', value: 'M' }, { type: 'string' }, true],
    [{ field: 'f', op: 'exists' }, undefined, true],
  ] as Array<[Claim, Record<string, unknown> | undefined, boolean]>)('%j on %j → %s', (claim, schema, ok) => {
    expect(checkClaimOrderable(claim, schema).ok).toBe(ok);
  });
});
