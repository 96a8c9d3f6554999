/** Shared pieces of the consumer API suites (batch, verifications, cases, proofs). */
import type { LightMyRequestResponse } from 'fastify';
import type { AdapterConfig, Grant, Procedure, TypeDef } from '../../src/registry/model.js';
import { upsertGrant, upsertProcedure, upsertType } from '../../src/registry/repository.js';
import type { TestGateway } from '../helpers/app.js';

export function post(gw: TestGateway, url: string, token: string | null, payload: object): Promise<LightMyRequestResponse> {
  return gw.app.inject({ method: 'POST', url, headers: token ? { authorization: `Bearer ${token}` } : {}, payload });
}

export async function eventsFor(gw: TestGateway, requestId: string) {
  return gw.db.db.selectFrom('audit_events').selectAll().where('request_id', '=', requestId).orderBy('seq').execute();
}

export const requestIdOf = (res: LightMyRequestResponse) => res.headers['x-request-id'] as string;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The record every test type holds: three plain strings. */
export const TEST_RECORD = { householdNumber: 'HH-110105-000123', name: '张测试', relation: 'self' } as const;

/**
 * A catalogue type for tests, open to every consumer (unconditional, no sensitive field) and
 * shaped like TEST_RECORD, served by `adapter`.
 */
export function testType(type: string, adapter: AdapterConfig, extra: Partial<TypeDef> = {}): TypeDef {
  const names = Object.keys(TEST_RECORD);
  return {
    type,
    kind: 'certificate',
    title: type,
    provider: 'public-security',
    subjectKind: 'person',
    sharing: 'unconditional',
    fields: names.map((name) => ({ name, title: name, sensitive: false })),
    schema: {
      type: 'object',
      properties: Object.fromEntries(names.map((n) => [n, { type: 'string' }])),
      required: names,
      additionalProperties: false,
    },
    adapter,
    ...extra,
  };
}

/** Adds types, procedures and grants to the registry and makes the gateway see them now. */
export async function register(gw: TestGateway, items: { types?: TypeDef[]; procedures?: Procedure[]; grants?: Grant[] }): Promise<void> {
  for (const t of items.types ?? []) await upsertType(gw.app.db, t);
  for (const p of items.procedures ?? []) await upsertProcedure(gw.app.db, p);
  for (const g of items.grants ?? []) await upsertGrant(gw.app.db, g);
  await gw.app.registry.reload();
}
