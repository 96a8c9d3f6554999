import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideAccess, type AccessRequest } from '../../src/policy/access.js';
import { minimiseRecord } from '../../src/policy/minimise.js';
import type { Grant, Sharing, TypeDef } from '../../src/registry/model.js';

const NOW = new Date('2026-01-15T00:00:00Z');
const PAST = '2025-12-31T16:00:00.000Z';
const FUTURE = '2026-12-31T16:00:00.000Z';
const PROCEDURES = new Set(['p1', 'p2']);

function typeDef(
  sharing: Sharing,
  fields = [
    { name: 'a', sensitive: false },
    { name: 'b', sensitive: false },
    { name: 's', sensitive: true },
  ],
): TypeDef {
  return {
    type: 't',
    kind: 'certificate',
    title: 'T',
    provider: 'dept',
    subjectKind: 'person',
    sharing,
    fields: fields.map((f) => ({ ...f, title: f.name })),
    schema: { type: 'object' },
    adapter: { kind: 'builtin', name: 'dept' },
  };
}

function grant(extra: Partial<Grant> = {}): Grant {
  return { grantId: 'g1', consumer: 'c', type: 't', purposes: ['p1'], fields: ['a', 's'], verifyOnly: false, expiresAt: null, ...extra };
}

function decide(sharing: Sharing, grants: Grant[], extra: Partial<AccessRequest> = {}) {
  return decideAccess({
    type: typeDef(sharing),
    grants,
    purpose: 'p1',
    isProcedure: (code) => PROCEDURES.has(code),
    mode: 'data',
    now: NOW,
    ...extra,
  });
}

type Expected = { fields: string[]; basis: 'grant' | 'open' } | { code: string; detail?: string };

const live = grant();
const expired = grant({ expiresAt: PAST });
const verifyOnly = grant({ verifyOnly: true });

const TABLE: Array<[string, Sharing, Grant[], Partial<AccessRequest>, Expected]> = [
  // sharing none: never served, whatever the grant or mode
  ['none, grant present', 'none', [live], {}, { code: 'NOT_GRANTED', detail: 'not shared' }],
  ['none, no grant', 'none', [], {}, { code: 'NOT_GRANTED' }],
  ['none, verify mode', 'none', [verifyOnly], { mode: 'verify', requestedFields: ['a'] }, { code: 'NOT_GRANTED' }],
  // conditional: the grant decides
  ['conditional, grant, purpose in', 'conditional', [live], {}, { fields: ['a', 's'], basis: 'grant' }],
  ['conditional, grant, purpose out', 'conditional', [live], { purpose: 'p2' }, { code: 'PURPOSE_NOT_ALLOWED' }],
  ['conditional, grant expired', 'conditional', [expired], {}, { code: 'NOT_GRANTED', detail: 'expired' }],
  ['conditional, expiry in the future', 'conditional', [grant({ expiresAt: FUTURE })], {}, { fields: ['a', 's'], basis: 'grant' }],
  [
    'conditional, one expired and one live grant',
    'conditional',
    [expired, grant({ grantId: 'g2', fields: ['b'] })],
    {},
    { fields: ['b'], basis: 'grant' },
  ],
  ['conditional, no grant', 'conditional', [], {}, { code: 'NOT_GRANTED', detail: 'no grant' }],
  ['conditional, verifyOnly grant, data mode', 'conditional', [verifyOnly], {}, { code: 'NOT_GRANTED', detail: 'verification only' }],
  [
    'conditional, verifyOnly grant, verify mode',
    'conditional',
    [verifyOnly],
    { mode: 'verify', requestedFields: ['s'] },
    { fields: ['s'], basis: 'grant' },
  ],
  [
    'conditional, verifyOnly grant, verify mode, purpose out',
    'conditional',
    [verifyOnly],
    { mode: 'verify', purpose: 'p2', requestedFields: ['s'] },
    { code: 'PURPOSE_NOT_ALLOWED' },
  ],
  [
    'conditional, verifyOnly grant, verify mode, field outside',
    'conditional',
    [verifyOnly],
    { mode: 'verify', requestedFields: ['b'] },
    { code: 'FIELD_NOT_ALLOWED' },
  ],
  [
    'conditional, normal grant, verify mode',
    'conditional',
    [live],
    { mode: 'verify', requestedFields: ['a'] },
    { fields: ['a'], basis: 'grant' },
  ],
  ['conditional, fields a subset', 'conditional', [live], { requestedFields: ['s'] }, { fields: ['s'], basis: 'grant' }],
  [
    'conditional, field outside the grant',
    'conditional',
    [live],
    { requestedFields: ['a', 'b'] },
    { code: 'FIELD_NOT_ALLOWED', detail: 'outside' },
  ],
  [
    'conditional, unknown field',
    'conditional',
    [live],
    { requestedFields: ['zz'] },
    { code: 'FIELD_NOT_ALLOWED', detail: 'has no field zz' },
  ],
  ['conditional, grant listing no field of the type', 'conditional', [grant({ fields: ['gone'] })], {}, { code: 'NOT_GRANTED' }],
  // unconditional: non-sensitive fields are open for a real procedure; grants add their fields
  ['unconditional, no grant', 'unconditional', [], {}, { fields: ['a', 'b'], basis: 'open' }],
  ['unconditional, no grant, purpose not a procedure', 'unconditional', [], { purpose: 'x' }, { code: 'PURPOSE_NOT_ALLOWED' }],
  ['unconditional, no grant, sensitive field', 'unconditional', [], { requestedFields: ['s'] }, { code: 'FIELD_NOT_ALLOWED' }],
  [
    'unconditional, no grant, unknown field',
    'unconditional',
    [],
    { requestedFields: ['zz'] },
    { code: 'FIELD_NOT_ALLOWED', detail: 'has no field' },
  ],
  ['unconditional, grant, purpose in', 'unconditional', [live], {}, { fields: ['a', 'b', 's'], basis: 'grant' }],
  [
    'unconditional, grant, purpose out (still a procedure)',
    'unconditional',
    [live],
    { purpose: 'p2' },
    { fields: ['a', 'b'], basis: 'open' },
  ],
  [
    'unconditional, grant, purpose out, sensitive field',
    'unconditional',
    [live],
    { purpose: 'p2', requestedFields: ['s'] },
    { code: 'FIELD_NOT_ALLOWED' },
  ],
  [
    'unconditional, grant names a non-procedure purpose',
    'unconditional',
    [grant({ purposes: ['x'] })],
    { purpose: 'x' },
    { fields: ['a', 'b', 's'], basis: 'grant' },
  ],
  ['unconditional, grant expired', 'unconditional', [expired], {}, { fields: ['a', 'b'], basis: 'open' }],
  ['unconditional, grant expired, sensitive field', 'unconditional', [expired], { requestedFields: ['s'] }, { code: 'FIELD_NOT_ALLOWED' }],
  ['unconditional, verifyOnly grant, data mode', 'unconditional', [verifyOnly], {}, { fields: ['a', 'b'], basis: 'open' }],
  [
    'unconditional, verifyOnly grant, verify mode, sensitive field',
    'unconditional',
    [verifyOnly],
    { mode: 'verify', requestedFields: ['s'] },
    { fields: ['s'], basis: 'grant' },
  ],
  ['unconditional, requested subset', 'unconditional', [], { requestedFields: ['b'] }, { fields: ['b'], basis: 'open' }],
];

describe('decideAccess decision table', () => {
  it.each(TABLE)('%s', (_label, sharing, grants, extra, expected) => {
    const decision = decide(sharing, grants, extra);
    if ('code' in expected) {
      expect(decision.allowed).toBe(false);
      if (decision.allowed) return;
      expect(decision.code).toBe(expected.code);
      if (expected.detail) expect(decision.detail).toContain(expected.detail);
    } else {
      expect(decision).toMatchObject({ allowed: true, fields: expected.fields, basis: expected.basis });
    }
  });

  it('refuses an unconditional type whose fields are all sensitive when no grant covers them', () => {
    const decision = decideAccess({
      type: typeDef('unconditional', [{ name: 's', sensitive: true }]),
      grants: [],
      purpose: 'p1',
      isProcedure: () => true,
      mode: 'data',
      now: NOW,
    });
    expect(decision).toMatchObject({ allowed: false, code: 'NOT_GRANTED' });
  });

  it('names the grants it relied on', () => {
    const decision = decide('conditional', [live, grant({ grantId: 'g2', fields: ['b'] }), grant({ grantId: 'g3', purposes: ['p2'] })]);
    expect(decision).toMatchObject({ allowed: true, fields: ['a', 'b', 's'], grantIds: ['g1', 'g2'] });
  });
});

const POOL = ['f0', 'f1', 'f2', 'f3', 'f4'];
const PURPOSES = ['p1', 'p2', 'x'];

const typeArb = fc
  .record({
    sharing: fc.constantFrom<Sharing>('none', 'conditional', 'unconditional'),
    kind: fc.constantFrom<'certificate' | 'record'>('certificate', 'record'),
    fields: fc.uniqueArray(fc.record({ name: fc.constantFrom(...POOL), sensitive: fc.boolean() }), {
      selector: (f) => f.name,
      minLength: 1,
    }),
  })
  .map(({ sharing, kind, fields }) => ({ ...typeDef(sharing, fields), kind }));

const grantArb = fc.record({
  grantId: fc.constantFrom('g1', 'g2', 'g3'),
  consumer: fc.constant('c'),
  type: fc.constant('t'),
  purposes: fc.subarray(PURPOSES),
  fields: fc.subarray([...POOL, 'zz']),
  verifyOnly: fc.boolean(),
  expiresAt: fc.constantFrom(null, PAST, FUTURE),
});

const requestArb = fc.record({
  type: typeArb,
  grants: fc.array(grantArb, { maxLength: 4 }),
  purpose: fc.constantFrom(...PURPOSES),
  requestedFields: fc.option(fc.uniqueArray(fc.constantFrom(...POOL, 'zz'), { minLength: 1 }), { nil: undefined }),
  mode: fc.constantFrom<'data' | 'verify'>('data', 'verify'),
});

/** Any JSON-ish record, with keys inside and outside the type's fields. */
const recordArb = fc.dictionary(
  fc.constantFrom(...POOL, 'zz', 'extra', 'rows'),
  fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null)),
);

describe('decideAccess properties', () => {
  it('an allowed decision never exceeds what usable grants list, or the non-sensitive fields of an open type', () => {
    fc.assert(
      fc.property(requestArb, ({ type, grants, purpose, requestedFields, mode }) => {
        const decision = decideAccess({ type, grants, purpose, requestedFields, mode, isProcedure: (c) => PROCEDURES.has(c), now: NOW });
        if (!decision.allowed) return;
        expect(type.sharing).not.toBe('none');
        const usable = grants.filter(
          (g) =>
            (g.expiresAt === null || new Date(g.expiresAt) > NOW) && g.purposes.includes(purpose) && (mode === 'verify' || !g.verifyOnly),
        );
        const granted = new Set(usable.flatMap((g) => g.fields));
        const typeFields = new Map(type.fields.map((f) => [f.name, f]));
        for (const f of decision.fields) {
          const def = typeFields.get(f);
          expect(def).toBeDefined();
          const open = type.sharing === 'unconditional' && def?.sensitive === false;
          expect(granted.has(f) || open).toBe(true);
        }
        if (type.sharing === 'conditional') expect(decision.fields.every((f) => granted.has(f))).toBe(true);
        if (requestedFields) expect([...decision.fields].sort()).toEqual([...requestedFields].sort());
      }),
      { numRuns: 2000 },
    );
  });

  it('minimiseRecord never returns a key outside the decision fields', () => {
    fc.assert(
      fc.property(
        requestArb,
        recordArb,
        fc.array(recordArb, { maxLength: 4 }),
        ({ type, grants, purpose, requestedFields, mode }, record, rows) => {
          const decision = decideAccess({ type, grants, purpose, requestedFields, mode, isProcedure: (c) => PROCEDURES.has(c), now: NOW });
          if (!decision.allowed) return;
          const allowed = new Set(decision.fields);
          if (type.kind === 'record') {
            const out = minimiseRecord('record', { ...record, rows }, decision.fields);
            expect(Object.keys(out)).toEqual(['rows']);
            for (const row of out.rows as Record<string, unknown>[]) expect(Object.keys(row).every((k) => allowed.has(k))).toBe(true);
          } else {
            const out = minimiseRecord('certificate', record, decision.fields);
            expect(Object.keys(out).every((k) => allowed.has(k))).toBe(true);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
