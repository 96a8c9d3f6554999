import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainEvents } from '../../src/audit/chain.js';
import type { AuditEventInput } from '../../src/audit/event.js';
import { insertEvents, lockChainHead, readChainHead } from '../../src/audit/repository.js';
import { archiveBefore, RetentionError } from '../../src/audit/retention.js';
import { verifyDatabase, verifyFiles } from '../../src/audit/verify.js';
import { AuditWriter } from '../../src/audit/writer.js';
import { runCli } from '../../src/cli.js';
import { testConfig } from '../helpers/app.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/db.js';
import { asSuperuser, lookupEventInput } from './support.js';

function at(time: string, caseId: string): AuditEventInput {
  return lookupEventInput({ requestId: `req-${caseId}`, caseId }, 'c'.repeat(64), { now: new Date(time), latencyMs: 1 });
}

async function partitions(db: TestDatabase): Promise<string[]> {
  const r = await sql<{ name: string }>`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'audit_events'::regclass order by 1`.execute(db.db);
  return r.rows.map((x) => x.name);
}

describe.each(DATABASE_KINDS)('retention (audit archive) on %s', (kind) => {
  let db: TestDatabase;
  let writer: AuditWriter;
  let dir: string;

  /** Chains events straight into the table, skipping the partition the writer would create: they land in the default partition. */
  async function intoDefault(inputs: AuditEventInput[]) {
    await db.db.transaction().execute(async (trx) => {
      const events = chainEvents(await lockChainHead(trx), inputs);
      const last = events.at(-1)!;
      await insertEvents(trx, events, { seq: last.seq, hash: last.hash });
    });
  }

  /** `npm run cli -- audit archive --before <month>` against this database: its exit code and lines. */
  async function archiveCli(before: string): Promise<{ code: number; out: string[] }> {
    const out: string[] = [];
    const code = await runCli(['audit', 'archive', '--before', before, '--dir', dir], {
      config: testConfig(),
      out: (l) => out.push(l),
      database: db,
    });
    return { code, out };
  }

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    writer = new AuditWriter(db.db, { maxEvents: 100, intervalMs: 0, logger: { error: () => {}, warn: () => {} } });
    dir = await mkdtemp(path.join(tmpdir(), 'onetrip-archive-'));
    // seq 1-2: 2024-11 (own partition); 3: 2024-12 (default); 4-5: 2025-01 (own partition); 6: 2025-02 (default); 7-8: now.
    for (const [t, c] of [
      ['2024-11-03T10:00:00.000Z', 'A1'],
      ['2024-11-30T23:59:59.999Z', 'A2'],
    ] as const)
      await writer.append(at(t, c));
    await intoDefault([at('2024-12-15T08:00:00.000Z', 'B1')]);
    for (const [t, c] of [
      ['2025-01-01T00:00:00.000Z', 'C1'],
      ['2025-01-20T12:00:00.000Z', 'C2'],
    ] as const)
      await writer.append(at(t, c));
    await intoDefault([at('2025-02-02T09:00:00.000Z', 'D1')]);
    await writer.append(at(new Date().toISOString(), 'E1'));
    await writer.append(at(new Date().toISOString(), 'E2'));
  });
  afterAll(async () => {
    await writer?.close();
    await db?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses a malformed month and the month being written', async () => {
    await expect(archiveBefore(db.db, { before: '2025-1', dir })).rejects.toBeInstanceOf(RetentionError);
    await expect(archiveBefore(db.db, { before: '2999-01', dir })).rejects.toThrow(/after the current month/);
  });

  it('refuses, dropping nothing, when the events to archive do not verify', async () => {
    await asSuperuser(db.db, (trx) => trx.updateTable('audit_events').set({ officer: 'mallory' }).where('seq', '=', 2).execute());
    try {
      await expect(archiveBefore(db.db, { before: '2025-02', dir })).rejects.toThrow(/first broken seq 2 .*Nothing was archived/);
    } finally {
      await asSuperuser(db.db, (trx) => trx.updateTable('audit_events').set({ officer: null }).where('seq', '=', 2).execute());
    }
    expect(await readdir(dir)).toEqual([]);
    expect(await partitions(db)).toContain('audit_events_2024_11');
    expect((await readChainHead(db.db)).anchor.seq).toBe(0);
  });

  it('archives older months, default-partition rows included, moves the anchor, and verify passes from it', async () => {
    const result = await archiveBefore(db.db, { before: '2025-02', dir });
    expect(result.files.map((f) => [path.basename(f.file), f.events, f.firstSeq, f.lastSeq])).toEqual([
      ['audit_events_2024_11.seq-1-2.ndjson', 2, 1, 2],
      ['audit_events_2024_12.seq-3-3.ndjson', 1, 3, 3],
      ['audit_events_2025_01.seq-4-5.ndjson', 2, 4, 5],
    ]);
    expect(result.droppedPartitions).toEqual(['audit_events_2024_11', 'audit_events_2025_01']);
    expect(result.reroutedEvents).toBe(1);
    const head = await readChainHead(db.db);
    expect(head.anchor).toEqual(result.anchor);
    expect(head.anchor.seq).toBe(5);

    // The database: only seq 6.. remain, the 2025-02 row now in its own partition, and the chain verifies from the anchor.
    const remaining = await db.db.selectFrom('audit_events').select('seq').orderBy('seq').execute();
    expect(remaining.map((r) => Number(r.seq))).toEqual([6, 7, 8]);
    expect(await partitions(db)).toEqual(expect.arrayContaining(['audit_events_2025_02', 'audit_events_default']));
    expect(await partitions(db)).not.toContain('audit_events_2024_11');
    const verdict = await verifyDatabase(db.db);
    expect(verdict).toMatchObject({ ok: true, checked: 3, anchor: result.anchor });

    // The files: sha256 sidecars match, and together they verify from genesis up to the anchor.
    for (const f of result.files) expect(await readFile(`${f.file}.sha256`, 'utf8')).toBe(`${f.sha256}  ${path.basename(f.file)}\n`);
    const offline = await verifyFiles(
      result.files.map((f) => f.file),
      { expectHead: result.anchor },
    );
    expect(offline).toMatchObject({ ok: true, checked: 5, anchored: true });
    const out: string[] = [];
    const code = await runCli(['audit', 'verify', ...result.files.flatMap((f) => ['--file', f.file])], {
      config: testConfig(),
      out: (l) => out.push(l),
    });
    expect({ code, out }).toEqual({ code: 0, out: ['OK: 5 events (seq 1..5) verified from genesis'] });

    // Still append-only, and the writer carries on.
    await expect(sql`truncate audit_events_default`.execute(db.db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from audit_events_2025_02`.execute(db.db)).rejects.toThrow(/append-only/);
    await writer.append(at(new Date().toISOString(), 'E3'));
    expect(await verifyDatabase(db.db)).toMatchObject({ ok: true, checked: 4 });
  });

  it('does nothing the second time, and archives through the CLI', async () => {
    expect(await archiveBefore(db.db, { before: '2025-02', dir })).toMatchObject({ files: [], droppedPartitions: [] });
    const { code, out } = await archiveCli('2025-03');
    expect(code).toBe(0);
    expect(out.join('\n')).toMatch(/archived 1 events \(seq 6\.\.6\).*\n.*anchor moved from seq 5 to seq 6/);
    expect(await verifyDatabase(db.db)).toMatchObject({ ok: true, anchor: { seq: 6 } });
  });

  it('refuses when months interleave in seq order (replica clocks at a month boundary)', async () => {
    await writer.append(at('2025-04-01T00:00:00.001Z', 'F1'));
    await writer.append(at('2025-03-31T23:59:59.999Z', 'F2'));
    const { code, out } = await archiveCli('2025-04');
    expect(code).toBe(1);
    expect(out.join('\n')).toMatch(/^refused: event \d+ \(on or after 2025-04\) precedes event \d+/);
    expect(await verifyDatabase(db.db)).toMatchObject({ ok: true });
  });
});
