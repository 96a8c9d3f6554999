import { hkdfSync, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { buildAuditEvent, type AuditFacts, type AuditScope, type DescribeSubject } from '../audit/build.js';
import type { AuditAction, AuditEvent } from '../audit/event.js';
import { Checkpointer, signCheckpoint } from '../audit/checkpoints.js';
import { AuditWriter, type AuditSink } from '../audit/writer.js';
import type { AppError } from '../errors.js';
import { maskSubjectId, parseSubject, subjectHmac } from '../subjects/index.js';

export type { AuditFacts } from '../audit/build.js';

/** A caller outside Fastify (src/lookups/deps.ts `Caller`): its scope, and how to mark its request audited. */
export interface AuditedCaller extends AuditScope {
  /** Called once an event of this request is written, so that a refusal is not recorded twice. */
  markAudited(): void;
}

export interface Audit {
  /**
   * The group-commit writer. Replaceable before the app is ready (e.g. in `beforeRoutes`):
   * bench/audit.ts swaps in a stub to measure the gateway with the audit trail off.
   */
  writer: AuditSink;
  /** Writes one event and resolves once it is committed. */
  record(request: FastifyRequest | AuditedCaller, facts: AuditFacts): Promise<AuditEvent>;
  /** Keyed HMAC and masked form of a subject (masked is null when the id is not valid). */
  describeSubject: DescribeSubject;
  /** A 32-byte key derived (HKDF-SHA256) from the audit HMAC key for one named use, e.g. sealing ids. */
  deriveKey(purpose: string): Buffer;
}

async function loadHmacKey(app: FastifyInstance): Promise<string> {
  if (app.config.auditHmacKey) return app.config.auditHmacKey;
  // Without AUDIT_HMAC_KEY the key is generated once and kept in the database, so every replica
  // shares it. Production deployments set AUDIT_HMAC_KEY from a secret store (README).
  await app.db
    .insertInto('gateway_secrets')
    .values({ name: 'audit_hmac_key', value: randomBytes(32).toString('base64url') })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const row = await app.db.selectFrom('gateway_secrets').select('value').where('name', '=', 'audit_hmac_key').executeTakeFirstOrThrow();
  return row.value;
}

async function auditPlugin(app: FastifyInstance) {
  const hmacKey = await loadHmacKey(app);
  const writer = new AuditWriter(app.db, {
    maxEvents: app.config.auditFlushMaxEvents,
    intervalMs: app.config.auditFlushIntervalMs,
    logger: app.log,
    checkpoints: new Checkpointer(
      { everyEvents: app.config.auditCheckpointEvents, everySeconds: app.config.auditCheckpointSeconds },
      (head, time) => signCheckpoint(app.keyring.current, app.issuer, head, time),
    ),
  });

  const describeSubject: Audit['describeSubject'] = (subject) => {
    const parsed = parseSubject(subject);
    if (parsed.ok) {
      return { kind: parsed.subject.kind, hmac: subjectHmac(hmacKey, parsed.subject), masked: maskSubjectId(parsed.subject) };
    }
    const kind = subject.kind === 'person' || subject.kind === 'enterprise' ? subject.kind : null;
    // An invalid id is still searchable by the exact string sent, never shown.
    return { kind, hmac: subjectHmac(hmacKey, { kind: kind ?? 'person', id: subject.id.toUpperCase() }), masked: null };
  };

  const record: Audit['record'] = async (request, facts) => {
    let scope: AuditScope;
    if ('markAudited' in request) {
      request.markAudited();
      scope = request;
    } else {
      request.auditRecorded = true;
      scope = { requestId: String(request.id), principal: request.principal, startedAt: request.startedAt };
    }
    const input = buildAuditEvent(scope, facts, { describeSubject });
    return audit.writer.append(input);
  };

  const deriveKey: Audit['deriveKey'] = (purpose) => Buffer.from(hkdfSync('sha256', hmacKey, 'onetrip', purpose, 32));
  const audit: Audit = { writer, record, describeSubject, deriveKey };
  app.decorate('audit', audit);
  app.decorateRequest('auditRecorded', false);
  app.decorateRequest('startedAt', 0);
  app.addHook('onRequest', async (request) => {
    request.startedAt = performance.now();
  });

  // A refused request on an audited route still leaves its event (denials are accesses too).
  app.addProblemListener(async (request: FastifyRequest, err: AppError) => {
    const action = request.routeOptions.config?.auditAction;
    if (!action || request.auditRecorded) return;
    const body = (request.body ?? {}) as Record<string, unknown>;
    const subject = pickSubject(body.subject ?? body.applicant);
    await record(request, {
      action,
      outcome: err.code === 'RECORD_NOT_FOUND' ? 'not_found' : err.status < 500 ? 'denied' : 'error',
      errorCode: err.code,
      type: str(body.type, CODE),
      purpose: str(body.purpose, CODE) ?? (action === 'case.material' ? str(body.procedure, CODE) : null),
      caseId: str(body.caseId, CASE_ID),
      officer: str(body.officer, CASE_ID),
      subject,
      detail: action === 'token.issue' ? { clientId: str(body.client_id, CLIENT_ID) } : null,
    });
  });

  app.addHook('onClose', async () => audit.writer.close());
}

/**
 * A refused request's body is unvalidated: only members that fit their contract pattern are kept
 * (gateway.yaml), so free text — CR/LF, formula text, anything else — never reaches the trail or
 * the citizen's data tracker. A member that does not fit is recorded as null.
 */
const CODE = /^(?=.{1,64}$)[a-z0-9]+(-[a-z0-9]+)*$/;
/** caseId and officer: 1–64 of `A-Za-z0-9-_./:#` (ARCHITECTURE.md, "Purpose"). */
export const CASE_ID = /^[A-Za-z0-9_./:#-]{1,64}$/;
const CLIENT_ID = /^[A-Za-z0-9._~-]{1,128}$/;

function str(v: unknown, pattern: RegExp): string | null {
  return typeof v === 'string' && v.length <= 128 && pattern.test(v) ? v : null;
}

function pickSubject(v: unknown): { kind: string; id: string } | null {
  if (!v || typeof v !== 'object') return null;
  const { kind, id } = v as Record<string, unknown>;
  return typeof kind === 'string' && typeof id === 'string' && id.length <= 64 ? { kind, id } : null;
}

declare module 'fastify' {
  interface FastifyInstance {
    audit: Audit;
  }
  interface FastifyRequest {
    auditRecorded: boolean;
    startedAt: number;
  }
  interface FastifyContextConfig {
    /** Set on routes whose every outcome, refusals included, writes an audit event. */
    auditAction?: AuditAction;
  }
}

export default fp(auditPlugin, { name: 'audit', fastify: '5.x', dependencies: ['config', 'db', 'errors', 'auth'] });
