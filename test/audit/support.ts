import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { buildAuditEvent, type AuditFacts } from '../../src/audit/build.js';
import type { AuditEventInput } from '../../src/audit/event.js';
import type { DB } from '../../src/db/index.js';
import type { TestGateway } from '../helpers/app.js';

/** A lookup that succeeds for a demo person holding a household registration. */
export function lookupBody(personId: string, overrides: Record<string, unknown> = {}) {
  return {
    type: 'household-registration',
    subject: { kind: 'person', id: personId },
    purpose: 'housing-fund-withdrawal',
    caseId: 'HF-2026-000001',
    ...overrides,
  };
}

export function personHolding(gw: TestGateway, type: string, index = 0): string {
  const people = gw.subjects.filter((s) => s.kind === 'person' && s.holds.includes(type));
  const person = people[index];
  if (!person) throw new Error(`no demo person #${index} holding ${type}`);
  return person.id;
}

export function post(
  gw: TestGateway,
  url: string,
  token: string | null,
  payload: unknown,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return gw.app.inject({
    method: 'POST',
    url,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    payload: payload as object,
  });
}

export async function verifyApi(gw: TestGateway, token: string) {
  const res = await gw.app.inject({ method: 'GET', url: '/v1/audit/verify', headers: { authorization: `Bearer ${token}` } });
  if (res.statusCode !== 200) throw new Error(`verify answered ${res.statusCode} ${res.body}`);
  return res.json() as {
    ok: boolean;
    checked: number;
    head: { seq: number; hash: string };
    firstBrokenSeq?: number;
    reason?: string;
    anchor?: { seq: number; hash: string };
  };
}

/**
 * Runs `statements` with the append-only triggers off, as a superuser can: the tamper tests play an
 * attacker with database access. `set local` keeps it to this one transaction (and connection).
 */
export async function asSuperuser(db: DB, statements: (trx: DB) => Promise<unknown>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await sql`set local session_replication_role = replica`.execute(trx);
    await statements(trx);
  });
}

export async function* linesOf(text: string): AsyncGenerator<string> {
  for (const line of text.split('\n')) yield line;
}

/**
 * A released lookup by the housing-fund window, built as the flow builds its events but without a
 * gateway (for writing a trail directly); `facts` adds or overrides.
 */
export function lookupEventInput(
  { requestId, caseId }: { requestId: string; caseId: string },
  subjectHmac: string,
  at: { now: Date; latencyMs: number },
  facts: Partial<AuditFacts> = {},
): AuditEventInput {
  return buildAuditEvent(
    { requestId, principal: { department: 'housing-fund', clientId: 'housing-fund-window' }, startedAt: null },
    {
      action: 'lookup',
      outcome: 'ok',
      type: 'household-registration',
      provider: 'public-security',
      subjectKind: 'person',
      subjectHmac,
      subjectMasked: '110*************2X',
      purpose: 'housing-fund-withdrawal',
      caseId,
      ...facts,
    },
    at,
  );
}
