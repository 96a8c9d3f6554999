/**
 * The floor of `npm run bench:overhead`: the least any gateway keeping the contract's guarantees
 * does for one lookup, on the product's stack, so the bench can say whether a ratio to the bare
 * proxy is within reach on the machine at hand at all, whatever onetrip itself does (issue 12).
 *
 * It is not onetrip and serves nothing: no policy, grants, quotas, logging, metrics, circuit
 * breaker, deadline, consent, covert or dispute rules, no refusal events. Only what every answer
 * of the contract has to pay, each done the cheapest way this stack offers:
 * - the Bearer token already verified (one map lookup, as onetrip's verified-token cache);
 * - the body checked against the contract's LookupRequest, the answer written by LookupResponse;
 * - the subject's checksum, its keyed HMAC and masked form (src/subjects);
 * - the provider call through an undici Pool, as the bare proxy makes it, and the record checked
 *   against the type's schema;
 * - the record's digest and its proof, a compact JWS signed with Ed25519 (src/lookups/proof.ts);
 * - the chained audit event, group-committed with synchronous_commit on before the answer is sent
 *   (src/audit/writer.ts, the gateway's own writer, into the same tables with the same indexes).
 */
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import Fastify from 'fastify';
import { Pool } from 'undici';
import { formatsPlugin } from '../src/ajv-formats.js';
import { AuditWriter } from '../src/audit/writer.js';
import type { DB } from '../src/db/index.js';
import { DEMO_TYPES } from '../src/demo/catalog.js';
import { digestOf, signProof } from '../src/lookups/proof.js';
import type { SigningKey } from '../src/keys/keyring.js';
import { loadGatewayDocument, ref, sharedSchema, type Schema } from '../src/openapi.js';
import { gatewayFormats } from '../src/plugins/input.js';
import { compileRecordSchema, createRecordAjv } from '../src/registry/snapshot.js';
import { maskSubjectId, parseSubject, subjectHmac } from '../src/subjects/index.js';

export const FLOOR_HMAC_KEY = 'bench-overhead-hmac-key-0123456789abcdef';
export const FLOOR_ISSUER = 'http://bench.test';

export interface Floor {
  port: number;
  /** The one Bearer token it takes. */
  token: string;
  /** Verifies its proofs. */
  publicKey: KeyObject;
  /** Stops listening and flushes its audit writer; the database stays open. */
  close(): Promise<void>;
}

export interface FloorOptions {
  /** Told of each 200. */
  answered?: () => void;
  /**
   * Leave out the audit event or the proof, to price each guarantee on its own (BENCH_FLOOR_PARTS):
   * without its event a lookup is answered at once, without its proof the answer's `proof` is empty.
   */
  without?: 'audit' | 'proof' | 'both';
}

/**
 * Starts the floor on a loopback port, calling the provider at `stubUrl` and writing to the
 * migrated database `db` (its pool is the caller's).
 */
export async function startFloor(stubUrl: string, db: DB, options: FloorOptions = {}): Promise<Floor> {
  const answered = options.answered ?? (() => undefined);
  const audit = options.without !== 'audit' && options.without !== 'both';
  const proofs = options.without !== 'proof' && options.without !== 'both';
  const writer = new AuditWriter(db, { maxEvents: 256, intervalMs: 0, logger: console });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const key = { kid: randomUUID(), privateKey, publicKey } as SigningKey;
  const token = randomUUID();
  const verified = new Map([
    [`Bearer ${token}`, { department: 'housing-fund', clientId: 'housing-fund-window', exp: Date.now() + 3600e3 }],
  ]);
  const recordAjv = createRecordAjv();
  const types = new Map(DEMO_TYPES.map((t) => [t.type, { def: t, validate: compileRecordSchema(recordAjv, t.schema) }]));
  const pool = new Pool(stubUrl, { connections: 32, pipelining: 1 });

  const app = Fastify({
    logger: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, strict: false }, plugins: [formatsPlugin, gatewayFormats] },
  });
  app.addSchema(sharedSchema(loadGatewayDocument()));
  app.post<{ Body: Schema<'LookupRequest'> }>(
    '/v1/lookups',
    { schema: { body: ref('LookupRequest'), response: { 200: ref('LookupResponse') } } },
    async (request, reply) => {
      const caller = verified.get(request.headers.authorization ?? '');
      if (!caller || caller.exp < Date.now()) return reply.code(401).send();
      const body = request.body;
      const type = types.get(body.type);
      const parsed = parseSubject(body.subject, type?.def.subjectKind);
      if (!type || !parsed.ok) return reply.code(422).send();
      const subject = { kind: parsed.subject.kind, id: maskSubjectId(parsed.subject) };
      const fields = type.def.fields.map((f) => f.name);
      const lookupId = randomUUID();
      const answer = await pool.request({
        path: '/lookup',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          type: body.type,
          subject: parsed.subject,
          fields,
          purpose: body.purpose,
          caseId: body.caseId,
          requestId: request.id,
        }),
      });
      const { record } = (await answer.body.json()) as { record: Record<string, unknown> };
      if (!type.validate(record)) return reply.code(502).send();
      const fetchedAt = new Date().toISOString();
      const digest = digestOf(record);
      const claims = {
        lookupId,
        type: body.type,
        provider: type.def.provider,
        subject,
        purpose: body.purpose,
        caseId: body.caseId,
        fetchedAt,
        digest,
      };
      const proof = proofs ? signProof(key, FLOOR_ISSUER, { ...claims, disputed: false }) : '';
      if (audit)
        await writer.append({
          id: lookupId,
          time: fetchedAt,
          requestId: String(request.id),
          consumer: caller.department,
          clientId: caller.clientId,
          officer: body.officer ?? null,
          action: 'lookup',
          type: body.type,
          provider: type.def.provider,
          subjectKind: parsed.subject.kind,
          subjectHmac: subjectHmac(FLOOR_HMAC_KEY, parsed.subject),
          subjectMasked: subject.id,
          purpose: body.purpose,
          caseId: body.caseId,
          fields,
          outcome: 'ok',
          errorCode: null,
          latencyMs: Math.round(reply.elapsedTime),
          recordDigest: digest,
          detail: null,
        });
      answered();
      return { ...claims, record, proof, disputed: false };
    },
  );
  app.addHook('onClose', async () => {
    await writer.close();
    await pool.close();
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { port: (app.server.address() as { port: number }).port, token, publicKey, close: () => app.close() };
}
