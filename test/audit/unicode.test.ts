/**
 * What is hashed is exactly what is stored and read back, for every Unicode string, on both
 * databases (issue 9: on PGlite a leading U+FEFF was stored, read back without it, and the chain
 * reported a break that never happened). Arbitrary strings go into every text member of an event.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEventInput } from '../../src/audit/event.js';
import { fromRow } from '../../src/audit/repository.js';
import { storable } from '../../src/audit/storable.js';
import { verifyDatabase } from '../../src/audit/verify.js';
import { AuditWriter } from '../../src/audit/writer.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/db.js';

const silent = { error: () => {}, warn: () => {} };

/** Text with the characters that broke things, mixed into arbitrary strings (any code point, lone surrogates included). */
const nasty = fc.constantFrom(
  '\ufeff',
  '\u0000',
  '\ud800',
  '\udfff',
  'e\u0301',
  '\u202e',
  '\u200f',
  '😀',
  '\r\n',
  '"',
  '\\',
  '\u2028',
  '\uffff',
  '\u0085',
  ' ',
);
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(fc.oneof(nasty, fc.string({ unit: 'grapheme', maxLength: 4 })), { maxLength: 8 }).map((parts) => parts.join('')),
  fc.string({ unit: 'binary', maxLength: 12 }).map((s) => `\ufeff${s}`),
);
const nullableText = fc.option(text, { nil: null });

const eventInput = fc.record({
  requestId: text,
  consumer: nullableText,
  clientId: nullableText,
  officer: nullableText,
  type: nullableText,
  provider: nullableText,
  subjectMasked: nullableText,
  purpose: nullableText,
  caseId: nullableText,
  fields: fc.array(text, { maxLength: 4 }),
  errorCode: nullableText,
  recordDigest: nullableText,
  detail: fc.option(
    fc.dictionary(
      text,
      fc.oneof(
        text,
        fc.array(text, { maxLength: 3 }),
        fc.double().filter((d) => !Object.is(d, -0)),
        fc.boolean(),
        fc.constant(null),
      ),
      { maxKeys: 4 },
    ),
    { nil: null },
  ),
});

describe.each(DATABASE_KINDS)('audit trail Unicode round trip on %s', (kind) => {
  let db: TestDatabase;
  let writer: AuditWriter;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    writer = new AuditWriter(db.db, { maxEvents: 64, intervalMs: 0, logger: silent });
  });
  afterAll(async () => {
    await writer?.close();
    await db?.dispose();
  });

  it('stores, reads back and verifies arbitrary strings in every text member', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(eventInput, { minLength: 1, maxLength: 5 }), async (members) => {
        const inputs: AuditEventInput[] = members.map((m) => ({
          ...m,
          id: randomUUID(),
          time: new Date().toISOString(),
          action: 'lookup',
          subjectKind: null,
          subjectHmac: null,
          outcome: 'denied',
          latencyMs: 1,
        }));
        const written = await Promise.all(inputs.map((i) => writer.append(i)));
        const rows = await db.db
          .selectFrom('audit_events')
          .selectAll()
          .where(
            'id',
            'in',
            written.map((e) => e.id),
          )
          .orderBy('seq')
          .execute();
        const read = rows.map((r) => fromRow(r));
        // Exactly what was chained, member for member: the storable form of what was sent.
        expect(read).toEqual(written);
        written.forEach((event, i) => {
          const { id: _id, time: _time, ...sent } = storable(inputs[i]!);
          expect(event).toMatchObject(JSON.parse(JSON.stringify(sent)));
        });
      }),
      { numRuns: 40, seed: 9 },
    );
    expect(await verifyDatabase(db.db)).toMatchObject({ ok: true });
  });
});
