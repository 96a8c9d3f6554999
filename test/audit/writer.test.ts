import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAuditEvent } from '../../src/audit/build.js';
import type { AuditEventInput } from '../../src/audit/event.js';
import { verifyDatabase } from '../../src/audit/verify.js';
import { AuditWriter, type AuditWriterOptions } from '../../src/audit/writer.js';
import { AppError } from '../../src/errors.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/db.js';

const silent = { error: () => {}, warn: () => {} };

function input(overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  const scope = {
    requestId: `req-${randomUUID()}`,
    principal: { department: 'housing-fund', clientId: 'housing-fund-window' },
    startedAt: null,
  };
  const facts = {
    action: 'lookup',
    outcome: 'ok',
    type: 'household-registration',
    provider: 'public-security',
    subjectKind: 'person',
    subjectHmac: 'a'.repeat(64),
    subjectMasked: '110*************2X',
    purpose: 'housing-fund-withdrawal',
    caseId: 'HF-1',
    fields: ['name'],
  } as const;
  return { ...buildAuditEvent(scope, { ...facts, fields: [...facts.fields] }, { latencyMs: 3 }), ...overrides };
}

/** Rows committed by one transaction share its xmin: how many transactions wrote these events. */
async function transactionsOf(db: TestDatabase, ids: string[]): Promise<number> {
  const r = await sql<{ n: number }>`select count(distinct xmin::text)::int as n from audit_events where id = any(${ids}::uuid[])`.execute(
    db.db,
  );
  return Number(r.rows[0]!.n);
}

describe.each(DATABASE_KINDS)('the group-commit audit writer on %s', (kind) => {
  let db: TestDatabase;
  const writers: AuditWriter[] = [];
  const writer = (options: Partial<AuditWriterOptions>) => {
    const w = new AuditWriter(db.db, { maxEvents: 256, intervalMs: 0, logger: silent, ...options });
    writers.push(w);
    return w;
  };

  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(async () => {
    for (const w of writers) await w.close();
    await db?.dispose();
  });

  it('commits as soon as maxEvents wait, in one transaction, without waiting for the timer', async () => {
    const w = writer({ maxEvents: 4, intervalMs: 60_000 });
    const inputs = [input(), input(), input(), input()];
    const started = performance.now();
    const events = await Promise.all(inputs.map((i) => w.append(i)));
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(events.map((e) => e.id)).toEqual(inputs.map((i) => i.id));
    expect(
      await transactionsOf(
        db,
        inputs.map((i) => i.id),
      ),
    ).toBe(1);
  });

  it('otherwise commits intervalMs after the first waiting event', async () => {
    const w = writer({ maxEvents: 100, intervalMs: 150 });
    const started = performance.now();
    let settled = false;
    const pending = Promise.all([w.append(input()), w.append(input())]).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 60));
    expect(settled).toBe(false);
    expect(w.pending).toBe(2);
    const events = await pending;
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(events[1]!.seq).toBe(events[0]!.seq + 1);
  });

  it('with intervalMs 0, sends the events of one turn of the event loop as one batch as soon as that turn ends, not on a timer', async () => {
    const w = writer({ maxEvents: 100, intervalMs: 0 });
    // A 0 ms timer set first fires after the writer's flush has taken the events (setTimeout(0)
    // waited 1-2 ms, which a lone lookup paid in full).
    let pendingWhenTimerFired = -1;
    const timer = new Promise<void>((resolve) =>
      setTimeout(() => {
        pendingWhenTimerFired = w.pending;
        resolve();
      }, 0),
    );
    const inputs = [input(), input(), input()];
    const appended = Promise.all(inputs.map((i) => w.append(i)));
    await timer;
    expect(pendingWhenTimerFired).toBe(0);
    await appended;
    expect(
      await transactionsOf(
        db,
        inputs.map((i) => i.id),
      ),
    ).toBe(1);
  });

  it('puts every event that arrives while a batch commits into the next batch, not only those there when it was scheduled', async () => {
    // The first batch is held inside its transaction (the checkpoint step runs under the head lock).
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const w = writer({ maxEvents: 100, intervalMs: 0, checkpoints: { due: () => true, afterChained: () => held, forget: () => {} } });
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    const first = input();
    const second = input();
    const third = input();
    const appended: Array<Promise<unknown>> = [];
    try {
      appended.push(w.append(first));
      await turn();
      appended.push(w.append(second)); // the next batch is scheduled now, behind the first
      await turn();
      appended.push(w.append(third)); // arrives later, while the first still commits
      await turn();
      expect(w.pending).toBe(2);
    } finally {
      // Released whatever happened above: a held transaction would hold every later test too.
      release();
    }
    await Promise.all(appended);
    expect(await transactionsOf(db, [first.id])).toBe(1);
    expect(await transactionsOf(db, [second.id, third.id])).toBe(1);
    expect(await transactionsOf(db, [first.id, second.id])).toBe(2);
  });

  it('flushes pending events on close and refuses new ones after', async () => {
    const w = writer({ maxEvents: 100, intervalMs: 60_000 });
    const inputs = [input(), input(), input()];
    const appended = inputs.map((i) => w.append(i));
    await w.close();
    await expect(Promise.all(appended)).resolves.toHaveLength(3);
    const rows = await db.db
      .selectFrom('audit_events')
      .select('id')
      .where(
        'id',
        'in',
        inputs.map((i) => i.id),
      )
      .execute();
    expect(rows).toHaveLength(3);
    await expect(w.append(input())).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
  });

  it('rejects a batch it cannot commit with AUDIT_UNAVAILABLE, writes none of it, and recovers by itself', async () => {
    const w = writer({ maxEvents: 256, intervalMs: 5 });
    const before = await db.db.selectFrom('audit_chain_head').selectAll().executeTakeFirstOrThrow();
    await sql`alter table audit_chain_head rename to audit_chain_head_away`.execute(db.db);
    const failed = [input(), input()];
    try {
      const results = await Promise.allSettled(failed.map((i) => w.append(i)));
      for (const r of results) {
        expect(r.status).toBe('rejected');
        const reason = (r as PromiseRejectedResult).reason as AppError;
        expect(reason).toBeInstanceOf(AppError);
        expect(reason.code).toBe('AUDIT_UNAVAILABLE');
      }
    } finally {
      await sql`alter table audit_chain_head_away rename to audit_chain_head`.execute(db.db);
    }
    expect(
      await db.db
        .selectFrom('audit_events')
        .select('id')
        .where(
          'id',
          'in',
          failed.map((i) => i.id),
        )
        .execute(),
    ).toEqual([]);
    const next = await w.append(input());
    expect(next.seq).toBe(Number(before.seq) + 1);
    expect(next.prevHash).toBe(before.hash);
    expect(await verifyDatabase(db.db)).toMatchObject({ ok: true });
  });

  it('stores an event with NUL bytes, lone surrogates or NaN without failing the rest of its batch', async () => {
    const w = writer({ maxEvents: 3, intervalMs: 60_000 });
    const poisoned = input({ caseId: 'A\u0000B', officer: 'x\ud800y', detail: { n: Number.NaN, s: '\udc00' } });
    const events = await Promise.all([w.append(input()), w.append(poisoned), w.append(input())]);
    expect(events[1]).toMatchObject({ caseId: 'AB', officer: 'x\ufffdy', detail: { n: null, s: '\ufffd' } });
    expect(await verifyDatabase(db.db)).toMatchObject({ ok: true });
  });

  it('chains under the lock again when another replica moved the head since its last batch', async () => {
    const a = writer({ maxEvents: 8, intervalMs: 0 });
    const b = writer({ maxEvents: 8, intervalMs: 0 });
    const first = await a.append(input());
    const other = await b.append(input());
    const next = await a.append(input());
    expect(other.seq).toBe(first.seq + 1);
    expect(next).toMatchObject({ seq: other.seq + 1, prevHash: other.hash });
    expect(await verifyDatabase(db.db)).toMatchObject({ ok: true });
  });

  it('keeps one chain across writers that commit concurrently (replicas)', async () => {
    const a = writer({ maxEvents: 8, intervalMs: 1 });
    const b = writer({ maxEvents: 8, intervalMs: 1 });
    const events = await Promise.all(Array.from({ length: 40 }, (_v, i) => (i % 2 ? a : b).append(input())));
    expect(new Set(events.map((e) => e.seq)).size).toBe(40);
    const verdict = await verifyDatabase(db.db, { pageSize: 7 });
    expect(verdict).toMatchObject({ ok: true });
    const head = await db.db.selectFrom('audit_chain_head').selectAll().executeTakeFirstOrThrow();
    expect(verdict.checked).toBe(Number(head.seq));
  });
});
