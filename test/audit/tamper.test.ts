import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventHash } from '../../src/audit/chain.js';
import type { AuditEvent } from '../../src/audit/event.js';
import { fromRow, readChainHead, toRow } from '../../src/audit/repository.js';
import { runCli } from '../../src/cli.js';
import { startTestGateway, testConfig, type TestGateway } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { asSuperuser, lookupBody, personHolding, post, verifyApi } from './support.js';

/** A forged event that chains correctly onto `prev`: what an attacker who knows the algorithm writes. */
function forge(prev: { seq: number; hash: string }, like: AuditEvent, seq = prev.seq + 1): AuditEvent {
  const unhashed = {
    ...like,
    id: '00000000-0000-4000-8000-000000000001',
    time: new Date(Date.parse(like.time) + 1).toISOString(),
    officer: 'mallory',
    seq,
    prevHash: prev.hash,
  };
  const { hash: _h, ...body } = unhashed;
  return { ...body, hash: eventHash(body) };
}

describe.each(DATABASE_KINDS)('tamper evidence on %s', (kind) => {
  let gw: TestGateway;
  let auditor: string;
  let dir: string;
  const K = 3;

  beforeAll(async () => {
    gw = await startTestGateway(kind);
    const consumer = await gw.token('housing-fund-window');
    auditor = await gw.token('audit-office');
    const person = personHolding(gw, 'household-registration');
    for (let i = 0; i < 4; i++)
      expect((await post(gw, '/v1/lookups', consumer, lookupBody(person, { caseId: `HF-T-${i}` }))).statusCode).toBe(200);
    dir = await mkdtemp(path.join(tmpdir(), 'onetrip-tamper-'));
  });
  afterAll(async () => {
    await gw?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const event = async (seq: number) =>
    fromRow(await gw.db.db.selectFrom('audit_events').selectAll().where('seq', '=', seq).executeTakeFirstOrThrow());
  const cli = async (args: string[], database = true) => {
    const lines: string[] = [];
    const config = testConfig({}, { databaseUrl: gw.db.url });
    const code = await runCli(args, { config, out: (l) => lines.push(l), ...(database ? { database: gw.db } : {}) });
    return { code, output: lines.join('\n') };
  };

  /** The break must show in the API verify, in the database CLI and in the offline CLI on a full export. */
  async function expectBrokenAt(seq: number) {
    const verdict = await verifyApi(gw, auditor);
    expect(verdict, JSON.stringify(verdict)).toMatchObject({ ok: false, firstBrokenSeq: seq });
    expect(await cli(['audit', 'verify'])).toMatchObject({ code: 1, output: expect.stringContaining(`first broken seq ${seq}:`) });
    const exported = await post(gw, '/v1/audit/export', auditor, {});
    expect(exported.statusCode).toBe(200);
    const file = path.join(dir, `export-${seq}-${Date.now()}.ndjson`);
    await writeFile(file, exported.body);
    expect(await cli(['audit', 'verify', '--file', file], false)).toMatchObject({
      code: 1,
      output: expect.stringContaining(`first broken seq ${seq} `),
    });
  }

  async function expectIntact() {
    expect(await verifyApi(gw, auditor)).toMatchObject({ ok: true });
  }

  it('starts intact, in the API, the database CLI and an exported file', async () => {
    await expectIntact();
    expect(await cli(['audit', 'verify'], kind === 'pglite')).toMatchObject({
      code: 0,
      output: expect.stringMatching(/^OK: \d+ events verified from genesis/),
    });
    const exported = await post(gw, '/v1/audit/export', auditor, {});
    const file = path.join(dir, 'intact.ndjson');
    await writeFile(file, exported.body);
    const head = await readChainHead(gw.db.db);
    expect(await cli(['audit', 'verify', '--file', file, '--head', `${head.seq}:${head.hash}`], false)).toMatchObject({
      code: 0,
      output: expect.stringContaining('verified from genesis'),
    });
  });

  it('names the edited event', async () => {
    const original = await event(K);
    await asSuperuser(gw.db.db, (trx) => trx.updateTable('audit_events').set({ officer: 'mallory' }).where('seq', '=', K).execute());
    await expectBrokenAt(K);
    await asSuperuser(gw.db.db, (trx) => trx.updateTable('audit_events').set({ officer: original.officer }).where('seq', '=', K).execute());
    await expectIntact();
  });

  it('names the event after one edited and re-hashed (its prevHash no longer matches)', async () => {
    const original = await event(K);
    const { hash: _hash, ...edited } = { ...original, officer: 'mallory' };
    await asSuperuser(gw.db.db, (trx) =>
      trx
        .updateTable('audit_events')
        .set({ officer: 'mallory', hash: eventHash(edited) })
        .where('seq', '=', K)
        .execute(),
    );
    await expectBrokenAt(K + 1);
    await asSuperuser(gw.db.db, (trx) =>
      trx.updateTable('audit_events').set({ officer: original.officer, hash: original.hash }).where('seq', '=', K).execute(),
    );
    await expectIntact();
  });

  it('names the deleted event', async () => {
    const original = await event(K);
    await asSuperuser(gw.db.db, (trx) => trx.deleteFrom('audit_events').where('seq', '=', K).execute());
    await expectBrokenAt(K);
    await gw.db.db.insertInto('audit_events').values(toRow(original)).execute();
    await expectIntact();
  });

  it('names a forged event inserted in the middle, even one that chains correctly', async () => {
    const prev = await event(K - 1);
    const forged = forge({ seq: K - 1, hash: prev.hash }, await event(K), K);
    await gw.db.db.insertInto('audit_events').values(toRow(forged)).execute(); // inserting needs no privilege
    await expectBrokenAt(K);
    await asSuperuser(gw.db.db, (trx) => trx.deleteFrom('audit_events').where('id', '=', forged.id).execute());
    await expectIntact();
  });

  it('names a forged event appended past the chain head', async () => {
    const head = await readChainHead(gw.db.db);
    const forged = forge(head, await event(head.seq));
    await gw.db.db.insertInto('audit_events').values(toRow(forged)).execute();
    await expectBrokenAt(head.seq + 1);
    await asSuperuser(gw.db.db, (trx) => trx.deleteFrom('audit_events').where('id', '=', forged.id).execute());
    await expectIntact();
  });

  it('names the first of two reordered events', async () => {
    const swap = (trx: typeof gw.db.db) =>
      sql`update audit_events set seq = case when seq = ${K}::bigint then ${K + 1}::bigint else ${K}::bigint end where seq in (${K}, ${K + 1})`.execute(
        trx,
      );
    await asSuperuser(gw.db.db, swap);
    await expectBrokenAt(K);
    await asSuperuser(gw.db.db, swap);
    await expectIntact();
  });

  it('is refused UPDATE, DELETE and TRUNCATE by the database, on the table and on each partition', async () => {
    const month = sql.id(`audit_events_${new Date().toISOString().slice(0, 7).replace('-', '_')}`);
    const attempts = [
      sql`update audit_events set officer = 'mallory' where seq = ${K}`,
      sql`delete from audit_events where seq = ${K}`,
      sql`update ${month} set officer = 'mallory' where seq = ${K}`,
      sql`delete from ${month} where seq = ${K}`,
      sql`truncate audit_events`,
      sql`truncate ${month}`,
      sql`truncate audit_events_default`,
    ];
    for (const attempt of attempts) {
      await expect(attempt.execute(gw.db.db)).rejects.toThrow(/append-only/);
    }
    await expectIntact();
  });
});
