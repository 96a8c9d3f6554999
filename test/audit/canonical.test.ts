import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/audit/canonical.js';
import { chainBatch, chainEvents, eventHash, GENESIS_HASH } from '../../src/audit/chain.js';
import type { AuditEventInput } from '../../src/audit/event.js';
import { storable } from '../../src/audit/storable.js';

/** Any UTF-16 code unit, lone surrogates and NUL included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: codeUnit }),
  fc.constantFrom('', '\u2028\u2029', '\u007f\u0080', '\ud83d\ude00', '\ud800', 'a\udc00b', '\ufeffbom', '"\\/\b\f\n\r\t'),
);
const numbers = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(1e21, 1e-7, -0, 0, 1.5e-7, 2 ** 53 + 2, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, 100, 1e20, -1e21, Infinity, NaN),
);

/** JSON plus what JSON.stringify accepts and canonicalize must agree on (undefined members, Dates). */
const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    anyString,
    numbers,
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.date({ noInvalidDate: true }),
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.dictionary(fc.oneof(anyString, fc.constantFrom('1', '10', '2', 'a', 'B', 'é', '\ud83d\ude00', '\uff61')), tie('value'), {
    maxKeys: 6,
  }),
})).value;

/** The library's answer, or the error it throws. */
function outcome(f: () => string | undefined): { value?: string; error?: string } {
  try {
    return { value: f() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

describe('canonicalJson (RFC 8785)', () => {
  it('writes exactly what the canonicalize library writes, and throws where it throws, for arbitrary JSON', () => {
    fc.assert(
      fc.property(json, (value) => {
        expect(outcome(() => canonicalJson(value))).toEqual(outcome(() => canonicalize(value)));
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees on the number forms RFC 8785 singles out, on key order by UTF-16 code units, and on edge members', () => {
    const cases: unknown[] = [
      1e21,
      -0,
      1.5e-7,
      1e-7,
      0.000001,
      123456789012345680000,
      [1e21, -0, 1.5e-7, 4.5, 0.002, 333333333.3333333, 1e23, 2e-3, 5e-324],
      { '\u20ac': 'Euro', '\r': 'CR', '\ufb33': 'Hebrew', '1': 'one', '\u0080': 'ctl', '\ud83d\ude00': 'smiley', '\u00f6': 'ö' },
      { a: undefined, b: () => 1, c: Symbol('s'), d: [undefined, () => 1, Symbol('t')] },
      // eslint-disable-next-line no-sparse-arrays
      [1, , 3],
      { toJSON: () => ({ b: 1, a: [new Date(0)] }) },
      new Date(86_400_000),
      'lone \ud800 surrogate',
      { ['lone \udc00 key']: 1 },
      NaN,
      -Infinity,
    ];
    for (const value of cases) expect(outcome(() => canonicalJson(value))).toEqual(outcome(() => canonicalize(value)));
  });

  it('refuses a cycle as canonicalize does, and accepts the same object twice side by side', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: [shared] })).toBe(canonicalize({ a: shared, b: [shared] }));
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = { back: cyclic };
    expect(() => canonicalJson(cyclic)).toThrow('Circular reference detected');
  });
});

const hex64 = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 });
const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }));
const nullableText = fc.option(text, { nil: null });
const time = fc
  .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2999-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => d.toISOString());

const input: fc.Arbitrary<AuditEventInput> = fc
  .record({
    id: fc.uuid(),
    time,
    requestId: text,
    consumer: nullableText,
    clientId: nullableText,
    officer: nullableText,
    action: fc.constantFrom('lookup' as const, 'batch.item' as const, 'admin.change' as const),
    type: nullableText,
    provider: nullableText,
    subjectKind: fc.constantFrom('person' as const, 'enterprise' as const, null),
    subjectHmac: fc.option(hex64, { nil: null }),
    subjectMasked: nullableText,
    purpose: nullableText,
    caseId: nullableText,
    fields: fc.array(text, { maxLength: 5 }),
    outcome: fc.constantFrom('ok' as const, 'not_found' as const, 'denied' as const, 'error' as const),
    errorCode: nullableText,
    latencyMs: fc.nat(),
    recordDigest: nullableText,
    detail: fc.option(fc.dictionary(text, json, { maxKeys: 4 }), { nil: null }),
    covert: fc.option(fc.constant(true as const), { nil: undefined }),
    discloseAt: fc.option(time, { nil: undefined }),
  })
  .map((r) => {
    // Absent, never undefined, as buildAuditEvent writes an overt event.
    const event: AuditEventInput = { ...r };
    if (r.discloseAt === undefined || r.covert === undefined) {
      delete event.covert;
      delete event.discloseAt;
    }
    // canonicalize refuses what storable() cleans before an event reaches the chain (as the writer does).
    return storable(event);
  });

/** The hash as the offline verifier defines it: SHA-256(prevHash, '\n', canonicalize(event without hash)). */
function referenceHash(event: Record<string, unknown>): string {
  const { hash: _hash, ...rest } = event;
  return createHash('sha256').update(String(rest.prevHash)).update('\n').update(canonicalize(rest)!).digest('hex');
}

describe('chainBatch', () => {
  it('hashes exactly the bytes canonicalize gives, and hands the database the same members it hashed', () => {
    fc.assert(
      fc.property(fc.array(input, { minLength: 1, maxLength: 4 }), fc.nat({ max: 1_000_000 }), hex64, (inputs, seq, hash) => {
        const head = { seq, hash };
        const { events, json: rows } = chainBatch(head, inputs);
        let prev = head;
        const parsed = JSON.parse(rows) as Array<Record<string, unknown>>;
        events.forEach((event, i) => {
          expect(event.seq).toBe(prev.seq + 1);
          expect(event.prevHash).toBe(prev.hash);
          expect(event.hash).toBe(referenceHash(event as unknown as Record<string, unknown>));
          const { hash: _hash, ...unhashed } = event;
          expect(eventHash(unhashed)).toBe(event.hash);
          // The database row is the event, member for member (JSON.parse drops nothing canonicalize kept).
          expect(parsed[i]).toEqual(JSON.parse(JSON.stringify(event)));
          prev = { seq: event.seq, hash: event.hash };
        });
        expect(chainEvents(head, inputs)).toEqual(events);
      }),
      { numRuns: 500 },
    );
  });

  it('normalises times as they read back from the database, rolled-over days included', () => {
    const base = { ...sampleInput(), time: '2026-02-30T00:00:00.000Z', discloseAt: '2026-04-31T10:00:00Z', covert: true as const };
    const [event] = chainEvents({ seq: 0, hash: GENESIS_HASH }, [base]);
    expect(event!.time).toBe('2026-03-02T00:00:00.000Z');
    expect(event!.discloseAt).toBe('2026-05-01T10:00:00.000Z');
    expect(event!.hash).toBe(referenceHash(event as unknown as Record<string, unknown>));
  });
});

function sampleInput(): AuditEventInput {
  return {
    id: '7b0a3f5e-7d4e-4a34-9b1e-2f5f3c1e9a10',
    time: '2026-12-01T04:00:00.000Z',
    requestId: 'req-1',
    consumer: 'police',
    clientId: 'police-app',
    officer: null,
    action: 'lookup',
    type: 'household',
    provider: 'civil-affairs',
    subjectKind: 'person',
    subjectHmac: null,
    subjectMasked: null,
    purpose: 'investigation',
    caseId: 'C-1',
    fields: ['name'],
    outcome: 'ok',
    errorCode: null,
    latencyMs: 2,
    recordDigest: null,
    detail: null,
  };
}
