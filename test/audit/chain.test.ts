import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalEventJson } from '../../src/audit/chain.js';

const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
})).value;

const eventLike = fc.record({
  seq: fc.nat(),
  id: fc.uuid(),
  time: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  consumer: fc.option(fc.string(), { nil: null }),
  officer: fc.option(fc.string({ unit: 'grapheme' }), { nil: null }),
  fields: fc.array(fc.string({ unit: 'grapheme' })),
  latencyMs: fc.integer(),
  weight: fc.double({ noNaN: true, noDefaultInfinity: true }),
  detail: fc.option(fc.dictionary(fc.string(), json), { nil: null }),
  prevHash: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }),
});

describe('canonicalEventJson', () => {
  it('writes exactly what the canonicalize library (RFC 8785) writes for any event', () => {
    fc.assert(
      fc.property(eventLike, fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.constant(null))), (event, extra) => {
        const whole = { ...extra, ...event };
        expect(canonicalEventJson(whole)).toBe(canonicalize(whole));
      }),
      { numRuns: 500 },
    );
  });

  it('skips undefined members as canonicalize does', () => {
    const event = { b: 1, a: undefined, c: ['x'], d: { z: 1, y: [2, { b: 1, a: 2 }] } };
    expect(canonicalEventJson(event)).toBe(canonicalize(event));
  });
});
