import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compactVerify, createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli.js';
import { registerDemoProviders } from '../../src/demo/seed.js';
import { problemOf, startTestGateway, testConfig, type TestGateway } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { asSuperuser, lookupBody, personHolding, post, verifyApi } from './support.js';

interface CheckpointOut {
  seq: number;
  hash: string;
  time: string;
  jws: string;
}

const EVERY = 5;

describe.each(DATABASE_KINDS)('signed checkpoints on %s', (kind) => {
  let gw: TestGateway;
  let consumer: string;
  let auditor: string;
  let person: string;
  let dir: string;

  beforeAll(async () => {
    gw = await startTestGateway(kind, { config: { auditCheckpointEvents: EVERY, auditCheckpointSeconds: 3600 } });
    [consumer, auditor] = await Promise.all([gw.token('housing-fund-window'), gw.token('audit-office')]);
    person = personHolding(gw, 'household-registration');
    for (let i = 0; i < 23; i++) expect((await lookup(`HF-CP-${i}`)).statusCode).toBe(200);
    dir = await mkdtemp(path.join(tmpdir(), 'onetrip-checkpoints-'));
  });
  afterAll(async () => {
    await gw?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const lookup = (caseId: string) => post(gw, '/v1/lookups', consumer, lookupBody(person, { caseId }));
  const list = async (query = '', token = auditor) =>
    gw.app.inject({ url: `/v1/audit/checkpoints${query}`, headers: { authorization: `Bearer ${token}` } });
  const all = async () => (await list('?limit=1000')).json().checkpoints as CheckpointOut[];
  const cli = async (args: string[]) => {
    const lines: string[] = [];
    const code = await runCli(['audit', 'verify', ...args], {
      config: testConfig({}, { databaseUrl: gw.db.url }),
      out: (l) => lines.push(l),
      database: gw.db,
    });
    return { code, output: lines.join('\n') };
  };

  it('signs the head every AUDIT_CHECKPOINT_EVENTS events with the gateway key, in the JWKS', async () => {
    const checkpoints = await all();
    const head = (await verifyApi(gw, auditor)).head;
    // The first batch writes one; then one at least every EVERY events, never two closer than that.
    expect(checkpoints.length).toBeGreaterThanOrEqual(Math.floor(head.seq / EVERY));
    for (let i = 1; i < checkpoints.length; i++) expect(checkpoints[i]!.seq - checkpoints[i - 1]!.seq).toBeGreaterThanOrEqual(EVERY);
    expect(head.seq - checkpoints.at(-1)!.seq).toBeLessThan(EVERY + 2);

    const jwks = createLocalJWKSet((await gw.app.inject({ url: '/.well-known/jwks.json' })).json() as JSONWebKeySet);
    for (const c of checkpoints) {
      const { payload, protectedHeader } = await compactVerify(c.jws, jwks, { algorithms: ['EdDSA'] });
      expect(protectedHeader).toMatchObject({ alg: 'EdDSA', typ: 'onetrip-checkpoint+jws', kid: expect.any(String) });
      expect(JSON.parse(new TextDecoder().decode(payload))).toEqual({
        seq: c.seq,
        hash: c.hash,
        time: c.time,
        iss: gw.app.config.publicUrl,
      });
      const event = await gw.db.db.selectFrom('audit_events').select('hash').where('seq', '=', c.seq).executeTakeFirstOrThrow();
      expect(event.hash).toBe(c.hash);
    }
    expect(await verifyApi(gw, auditor)).toMatchObject({
      ok: true,
      latestCheckpoint: { seq: checkpoints.at(-1)!.seq, hash: checkpoints.at(-1)!.hash, time: checkpoints.at(-1)!.time },
    });
  });

  it('pages with after and limit, for auditors only, and refuses a bad query with 400', async () => {
    const checkpoints = await all();
    const page = (await list(`?after=${checkpoints[0]!.seq}&limit=2`)).json().checkpoints as CheckpointOut[];
    expect(page).toEqual(checkpoints.slice(1, 3));
    for (const q of ['?limit=0', '?limit=1001', '?after=-1', '?colour=blue']) {
      const res = await list(q);
      expect(res.statusCode).toBe(400);
      expect(problemOf(res).code).toBe('VALIDATION_FAILED');
    }
    const res = await list('', consumer);
    expect(res.statusCode).toBe(403);
    expect(problemOf(res).code).toBe('FORBIDDEN');
  });

  it('also writes one after AUDIT_CHECKPOINT_SECONDS when events arrive, without waiting for the count', async () => {
    // A second replica on the same chain, with a 1 s checkpoint interval and no event count to reach.
    const timed = await startTestGateway(kind, {
      database: gw.db,
      demo: false,
      beforeRoutes: (app) => registerDemoProviders(app),
      config: { auditCheckpointEvents: 1_000_000, auditCheckpointSeconds: 1 },
    });
    try {
      const timedLookup = async (caseId: string) => {
        const res = await post(timed, '/v1/lookups', consumer, lookupBody(person, { caseId }));
        expect(res.statusCode).toBe(200);
        return (await gw.db.db.selectFrom('audit_events').select('seq').where('id', '=', res.json().lookupId).executeTakeFirstOrThrow())
          .seq;
      };
      await timedLookup('HF-CP-timed-0');
      const before = (await all()).at(-1)!;
      // Within the second: no checkpoint, however the count stands.
      await timedLookup('HF-CP-timed-1');
      expect((await all()).at(-1)).toEqual(before);
      await new Promise((r) => setTimeout(r, 1_100));
      const seq = await timedLookup('HF-CP-timed-2');
      expect((await all()).at(-1)).toMatchObject({ seq: Number(seq) });
    } finally {
      await timed.close();
    }
  });

  it('keeps checkpoints append-only and the head from moving backwards', async () => {
    await expect(sql`update audit_checkpoints set hash = repeat('0', 64)`.execute(gw.db.db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from audit_checkpoints`.execute(gw.db.db)).rejects.toThrow(/append-only/);
    await expect(sql`truncate audit_checkpoints`.execute(gw.db.db)).rejects.toThrow(/append-only/);
    await expect(sql`update audit_chain_head set seq = seq - 1`.execute(gw.db.db)).rejects.toThrow(/cannot move backwards/);
    await expect(sql`delete from audit_chain_head`.execute(gw.db.db)).rejects.toThrow(/append-only/);
    expect(await verifyApi(gw, auditor)).toMatchObject({ ok: true });
  });

  it('refuses detaching or dropping an audit partition outside retention (event trigger)', async () => {
    const month = `audit_events_${new Date().toISOString().slice(0, 7).replace('-', '_')}`;
    await expect(sql`alter table audit_events detach partition ${sql.id(month)}`.execute(gw.db.db)).rejects.toThrow(
      /only be detached by retention/,
    );
    await expect(sql`drop table ${sql.id(month)}`.execute(gw.db.db)).rejects.toThrow(/only be dropped by retention/);
    await expect(sql`drop table audit_checkpoints`.execute(gw.db.db)).rejects.toThrow(/cannot be dropped/);
    expect(await verifyApi(gw, auditor)).toMatchObject({ ok: true });
  });

  it('verifies an export against the checkpoints offline, and names a file cut short or a forged checkpoint', async () => {
    const exported = await post(gw, '/v1/audit/export', auditor, {}, { accept: 'application/x-ndjson' });
    expect(exported.statusCode).toBe(200);
    const lines = exported.body.split('\n').filter((l) => l !== '');
    const checkpoints = await all();
    const files = {
      all: path.join(dir, 'export.ndjson'),
      short: path.join(dir, 'short.ndjson'),
      cps: path.join(dir, 'checkpoints.ndjson'),
      forged: path.join(dir, 'forged.ndjson'),
      jwks: path.join(dir, 'jwks.json'),
    };
    await writeFile(files.all, lines.map((l) => `${l}\n`).join(''));
    await writeFile(files.cps, checkpoints.map((c) => `${JSON.stringify(c)}\n`).join(''));
    await writeFile(files.jwks, (await gw.app.inject({ url: '/.well-known/jwks.json' })).body);
    const inExport = checkpoints.filter((c) => c.seq <= lines.length).length;
    expect(await cli(['--file', files.all, '--checkpoints', files.cps, '--jwks', files.jwks])).toEqual({
      code: 0,
      output: expect.stringContaining(`; ${inExport} signed checkpoints matched`),
    });

    const last = checkpoints.filter((c) => c.seq <= lines.length).at(-1)!;
    await writeFile(
      files.short,
      lines
        .slice(0, last.seq - 2)
        .map((l) => `${l}\n`)
        .join(''),
    );
    expect(await cli(['--file', files.short, '--checkpoints', files.cps])).toEqual({
      code: 1,
      output: `BROKEN: the file ends at seq ${last.seq - 2} but a signed checkpoint says ${checkpoints.at(-1)!.seq}: events ${last.seq - 1}..${checkpoints.at(-1)!.seq} are missing at the end; ${last.seq - 2} events read`,
    });

    const [header, payload] = checkpoints[0]!.jws.split('.');
    const selfSigned = { ...checkpoints[0]!, jws: `${header}.${payload}.${Buffer.from('not the gateway').toString('base64url')}` };
    await writeFile(files.forged, [selfSigned, ...checkpoints.slice(1)].map((c) => `${JSON.stringify(c)}\n`).join(''));
    expect(await cli(['--file', files.all, '--checkpoints', files.forged, '--jwks', files.jwks])).toEqual({
      code: 1,
      output: `BROKEN: the checkpoint at seq ${checkpoints[0]!.seq} is not signed by a key of ${files.jwks}`,
    });
  });

  it('reports a checkpoint that does not match its event', async () => {
    const head = (await verifyApi(gw, auditor)).head;
    const signed = new Set((await all()).map((c) => c.seq));
    const unsigned = Array.from({ length: head.seq }, (_v, i) => head.seq - i).find((seq) => !signed.has(seq))!;
    // A superuser slips in a checkpoint for a chain that never was; then removes it again.
    await sql`insert into audit_checkpoints (seq, hash, time, jws) values (${unsigned}, ${'f'.repeat(64)}, now(), 'x.y.z')`.execute(
      gw.db.db,
    );
    try {
      expect(await verifyApi(gw, auditor)).toMatchObject({
        ok: false,
        firstBrokenSeq: unsigned,
        reason: expect.stringContaining('does not match the signed checkpoint'),
      });
    } finally {
      await asSuperuser(gw.db.db, (trx) => sql`delete from audit_checkpoints where seq = ${unsigned}`.execute(trx));
    }
    expect(await verifyApi(gw, auditor)).toMatchObject({ ok: true });
  });

  it('reports a cut tail: events deleted past a checkpoint and the head moved back, with the triggers bypassed', async () => {
    const latest = (await all()).at(-1)!;
    const cutTo = latest.seq - 3;
    const kept = await gw.db.db.selectFrom('audit_events').select('hash').where('seq', '=', cutTo).executeTakeFirstOrThrow();
    await asSuperuser(gw.db.db, async (trx) => {
      await sql`delete from audit_events where seq > ${cutTo}`.execute(trx);
      await sql`update audit_chain_head set seq = ${cutTo}, hash = ${kept.hash} where id = 1`.execute(trx);
    });
    const verdict = await verifyApi(gw, auditor);
    expect(verdict).toMatchObject({
      ok: false,
      checked: cutTo,
      head: { seq: cutTo },
      firstBrokenSeq: cutTo + 1,
      reason: `the chain head (seq ${cutTo}) is behind the latest signed checkpoint (seq ${latest.seq}): events ${cutTo + 1}..${latest.seq} were cut from the end`,
      latestCheckpoint: { seq: latest.seq, hash: latest.hash },
    });
    expect(await cli([])).toEqual({
      code: 1,
      output: expect.stringContaining(
        `BROKEN: first broken seq ${cutTo + 1}: the chain head (seq ${cutTo}) is behind the latest signed checkpoint`,
      ),
    });
  });
});
