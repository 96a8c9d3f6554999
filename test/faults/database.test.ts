import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import pg from 'pg';
import { Agent, fetch } from 'undici';
import { verifyDatabase } from '../../src/audit/verify.js';
import { startChildGateway, type ChildGateway } from '../helpers/child-gateway.js';
import { createTestDatabase, withAdmin, type TestDatabase } from '../helpers/db.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { httpRequest, lookupJson, metric, rawConnection, runLoad, UNLIMITED, untilRefused, untilSteady, type LoadAnswer } from './load.js';

/**
 * A PostgreSQL blip under load must never end the process (issue 10): the gateway runs as a real
 * process whose database connections go through a TCP proxy that the test cuts and restores under
 * 64 concurrent lookups, and whose backends the test terminates. Then the same process is killed
 * with SIGKILL under load and restarted on the same chain, and finally stopped with SIGTERM while 64
 * lookups are in flight. PostgreSQL only: PGlite runs in the gateway's own process and has no
 * connection to cut.
 */
const APP_NAME = 'onetrip-fault-suite';

/** Polls /readyz every 50 ms; how long until it answered 200. */
async function readyWithin(gw: ChildGateway, budgetMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const status = await fetch(`${gw.url}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return performance.now() - started;
    expect(gw.exit, gw.output()).toBeNull();
    if (performance.now() - started > budgetMs) throw new Error(`not ready ${budgetMs} ms after the database came back:\n${gw.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every answer is a 200 whose event is committed, or a 503 problem with no data; nothing is lost. */
async function expectNothingLost(db: TestDatabase, answers: LoadAnswer[]) {
  const unexpected = answers.filter(
    (a) => !(a.status === 200 || (a.status === 503 && (a.code === 'AUDIT_UNAVAILABLE' || a.code === 'NOT_READY'))),
  );
  expect(unexpected.slice(0, 5), 'answers other than 200 and 503 AUDIT_UNAVAILABLE/NOT_READY').toEqual([]);
  for (const a of answers.filter((x) => x.status === 503)) {
    expect(a.problemJson).toBe(true);
    expect(a.hasRecord).toBe(false);
  }
  const served = answers.filter((a) => a.status === 200);
  const ids = served.map((a) => a.lookupId!);
  const rows =
    ids.length === 0 ? [] : await db.db.selectFrom('audit_events').select(['id', 'case_id', 'outcome']).where('id', 'in', ids).execute();
  const found = new Set(rows.map((r) => r.id));
  const lost = served.filter((a) => !found.has(a.lookupId!));
  expect(
    lost.map((a) => a.caseId),
    'lookups answered 200 without a committed event',
  ).toEqual([]);
  for (const r of rows) expect(r.outcome).toBe('ok');
  return { served: served.length, refused: answers.length - served.length };
}

describe.runIf(process.env.TEST_DATABASE_URL)(
  'faults under 64 concurrent lookups: database blips, kill -9, SIGTERM (PostgreSQL, gateway as a child process)',
  () => {
    let db: TestDatabase;
    let proxy: TcpProxy;
    let gw: ChildGateway;
    let token: string;
    let person: string;
    let viaProxy: URL;

    beforeAll(async () => {
      db = await createTestDatabase('postgres');
      proxy = await startTcpProxy({ host: new URL(db.url!).hostname, port: Number(new URL(db.url!).port || 5432) });
      viaProxy = new URL(db.url!);
      viaProxy.port = String(proxy.port);
      viaProxy.searchParams.set('application_name', APP_NAME);
      gw = await startChildGateway({ DATABASE_URL: viaProxy.toString(), AUDIT_FLUSH_INTERVAL_MS: '2', ...UNLIMITED });
      token = await gw.token('housing-fund-window');
      person = gw.subjects.find((s) => s.kind === 'person' && s.holds.includes('household-registration'))!.id;
    }, 90_000);

    afterAll(async () => {
      await gw?.stop();
      if (gw) await rm(gw.dataDir, { recursive: true, force: true });
      await proxy?.close();
      await db?.dispose();
    });

    it('stays up through five cuts of its TCP connections, answers 200 with the event or 503 with nothing, ready within 5 s', async () => {
      const load = runLoad(gw, { token, person, workers: 64, prefix: 'CUT' });
      const readyTimes: number[] = [];
      try {
        for (let round = 0; round < 5; round += 1) {
          await load.until((answers) => answers.filter((a) => a.status === 200).length >= 64 * (round + 1));
          proxy.cut();
          await new Promise((r) => setTimeout(r, 400));
          expect(gw.exit, gw.output()).toBeNull();
          proxy.restore();
          readyTimes.push(await readyWithin(gw, 5_000));
        }
        await load.until((answers) => answers.filter((a) => a.status === 200).length >= 64 * 6);
      } finally {
        await load.stop();
      }
      expect(gw.exit, gw.output()).toBeNull();
      const answers = load.answers;
      const { served, refused } = await expectNothingLost(db, answers);
      expect(served).toBeGreaterThan(0);
      expect(refused).toBeGreaterThan(0);
      expect(Math.max(...readyTimes)).toBeLessThan(5_000);
      expect(await verifyDatabase(db.db)).toMatchObject({ ok: true });
    }, 60_000);

    it('stays up when PostgreSQL terminates its backends mid-transaction, and serves again within 5 s', async () => {
      const load = runLoad(gw, { token, person, workers: 64, prefix: 'TERM' });
      let readyMs = 0;
      try {
        for (let round = 0; round < 3; round += 1) {
          await load.until((answers) => answers.filter((a) => a.status === 200).length >= 64 * (round + 1));
          const terminated = await withAdmin(async (c) => {
            const res = await c.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [APP_NAME]);
            return res.rowCount;
          });
          expect(terminated).toBeGreaterThan(0);
          readyMs = Math.max(readyMs, await readyWithin(gw, 5_000));
        }
        await load.until((answers) => answers.filter((a) => a.status === 200).length >= 64 * 4);
      } finally {
        await load.stop();
      }
      expect(gw.exit, gw.output()).toBeNull();
      const { served } = await expectNothingLost(db, load.answers);
      expect(served).toBeGreaterThan(0);
      expect(readyMs).toBeLessThan(5_000);
      expect(await verifyDatabase(db.db)).toMatchObject({ ok: true });
    }, 60_000);
    it('loses no event of a 200 when the process is killed with SIGKILL under load, and starts again on the same chain', async () => {
      const load = runLoad(gw, { token, person, workers: 64, prefix: 'KILL' });
      await load.until((answers) => answers.filter((a) => a.status === 200).length >= 128);
      gw.signal('SIGKILL');
      expect((await gw.exited).signal).toBe('SIGKILL');
      await load.stop();
      // Restarted on the same database and data directory (demo credentials kept).
      gw = await startChildGateway({ DATABASE_URL: viaProxy.toString(), ...UNLIMITED }, { dataDir: gw.dataDir });
      token = await gw.token('housing-fund-window');
      const cut = load.answers.filter((a) => a.status === 0).length;
      const { served } = await expectNothingLost(
        db,
        load.answers.filter((a) => a.status !== 0),
      );
      expect(served).toBeGreaterThanOrEqual(128);
      expect(cut).toBeGreaterThan(0);
      expect(await verifyDatabase(db.db)).toMatchObject({ ok: true });
    }, 60_000);

    it('on SIGTERM under 64 concurrent lookups completes those in flight with their events, refuses later ones with problem+json 503, exits 0', async () => {
      // One keep-alive connection stays busy with a lookup across the SIGTERM: the request sent on it
      // afterwards reaches the closing gateway (a new connection is refused by then).
      // The test holds the chain-head lock, so every lookup stays in flight, waiting for its group
      // commit (the writer's queue fills up), until after the SIGTERM.
      const lock = new pg.Client({ connectionString: db.url! });
      await lock.connect();
      await lock.query('begin');
      await lock.query('select seq from audit_chain_head where id = 1 for update');
      const busy = rawConnection(gw.port);
      busy.send(httpRequest('POST', '/v1/lookups', token, lookupJson(person, 'TERM-busy')));
      const dispatcher = new Agent({ connections: 64 });
      const inFlight = Promise.all(
        Array.from({ length: 64 }, (_v, i) =>
          fetch(`${gw.url}/v1/lookups`, {
            method: 'POST',
            dispatcher,
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: lookupJson(person, `SIGTERM-${i}`),
          }).then(async (res) => ({ status: res.status, body: (await res.json()) as { lookupId?: string } })),
        ),
      );
      // Two batches wait for the lock; the other events queue behind them (how many land in each
      // depends on how the requests bunch up). Once all 65 events wait, every request has arrived.
      const waiting = async () =>
        (await metric(gw, 'onetrip_audit_pending_events')) + (await metric(gw, 'onetrip_audit_committing_events'));
      await untilSteady(waiting, (v) => v >= 65, 500, 30_000);
      gw.signal('SIGTERM');
      await untilRefused(gw.port);
      busy.send(httpRequest('GET', '/v1/catalog', token));
      await lock.query('commit');
      await lock.end();
      const answers = await inFlight;
      const [first, second] = await busy.responses(2);
      const exit = await gw.exited;
      await dispatcher.close();

      expect(answers.map((a) => a.status)).toEqual(Array(64).fill(200));
      expect(first).toMatchObject({ status: 200 });
      expect(second).toMatchObject({
        status: 503,
        contentType: expect.stringMatching(/^application\/problem\+json/),
        body: { code: 'NOT_READY', status: 503 },
      });
      const ids = [...answers.map((a) => a.body.lookupId!), (first!.body as { lookupId: string }).lookupId];
      const rows = await db.db.selectFrom('audit_events').select('id').where('id', 'in', ids).execute();
      expect(rows).toHaveLength(65);
      expect(exit, gw.output()).toEqual({ code: 0, signal: null });
      expect(await verifyDatabase(db.db)).toMatchObject({ ok: true });
    }, 60_000);
  },
);
