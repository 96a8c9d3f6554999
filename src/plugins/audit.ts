import { hkdfSync, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { buildAuditEvent, type AuditFacts, type AuditScope, type DescribeSubject } from '../audit/build.js';
import type { AuditEvent } from '../audit/event.js';
import { bodyPropertiesOf, checkAuditRoute, refusalFacts, type AuditRouteConfig } from '../audit/route-facts.js';
import { Checkpointer, signCheckpoint } from '../audit/checkpoints.js';
import { AuditWriter, type AuditSink } from '../audit/writer.js';
import type { AppError } from '../errors.js';
import { maskSubjectId, parseSubject, subjectHmac, type Subject } from '../subjects/index.js';
import { readSecret, recordSecretIfAbsent } from '../keys/repository.js';

type Description = ReturnType<DescribeSubject>;

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
  /** The same for a subject `parsed` (src/subjects) from `subject`, which later calls with `subject` reuse. */
  describeParsed(subject: { kind: string; id: string }, parsed: Subject): ReturnType<DescribeSubject> & { masked: string };
  /** A 32-byte key derived (HKDF-SHA256) from the audit HMAC key for one named use, e.g. sealing ids. */
  deriveKey(purpose: string): Buffer;
}

async function loadHmacKey(app: FastifyInstance): Promise<string> {
  if (app.config.auditHmacKey) return app.config.auditHmacKey;
  // Without AUDIT_HMAC_KEY the key is generated once and kept in the database, so every replica
  // shares it. Production deployments set AUDIT_HMAC_KEY from a secret store (README).
  await recordSecretIfAbsent(app.db, 'audit_hmac_key', randomBytes(32).toString('base64url'));
  return readSecret(app.db, 'audit_hmac_key');
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

  // Each subject object of a request is described once: the lookup flow hands over the subject it
  // has parsed (describeParsed), and the event, the dispute check and the answer's masked id read the
  // same description instead of parsing, hashing and masking the id again (issue 12).
  const descriptions = new WeakMap<object, Description>();
  const describeValid = (subject: Subject): Description => ({
    kind: subject.kind,
    hmac: subjectHmac(hmacKey, subject),
    masked: maskSubjectId(subject),
  });
  const describeSubject: Audit['describeSubject'] = (subject) => {
    const known = descriptions.get(subject);
    if (known !== undefined) return known;
    const parsed = parseSubject(subject);
    let description: Description;
    if (parsed.ok) description = describeValid(parsed.subject);
    else {
      const kind = subject.kind === 'person' || subject.kind === 'enterprise' ? subject.kind : null;
      // An invalid id is still searchable by the exact string sent, never shown.
      description = { kind, hmac: subjectHmac(hmacKey, { kind: kind ?? 'person', id: subject.id.toUpperCase() }), masked: null };
    }
    descriptions.set(subject, description);
    return description;
  };
  const describeParsed: Audit['describeParsed'] = (subject, parsed) => {
    let description = descriptions.get(subject);
    if (description === undefined) {
      description = describeValid(parsed);
      descriptions.set(subject, description);
    }
    return description as Description & { masked: string };
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
  const audit: Audit = { writer, record, describeSubject, describeParsed, deriveKey };
  app.decorate('audit', audit);
  app.decorateRequest('auditRecorded', false);
  app.decorateRequest('startedAt', 0);
  app.addHook('onRequest', (request, _reply, done) => {
    request.startedAt = performance.now();
    done();
  });

  // Each route's audit facts are checked once, as it is added: a route that would record its
  // refusals wrongly (or not at all) keeps the gateway from starting.
  app.addHook('onRoute', (route: RouteOptions) => {
    const where = `${String(route.method)} ${route.url}`;
    checkAuditRoute(where, route.config, bodyPropertiesOf(route.schema?.body, app.openapi.components.schemas));
  });

  // A refused request on an audited route still leaves its event (denials are accesses too).
  app.addProblemListener(async (request: FastifyRequest, err: AppError) => {
    const declared = request.routeOptions.config?.audit;
    if (!declared || request.auditRecorded) return;
    await record(request, refusalFacts(declared, (request.body ?? {}) as Record<string, unknown>, err));
  });

  app.addHook('onClose', async () => audit.writer.close());
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
    /** Set on routes whose every outcome, refusals included, writes an audit event: what a refusal records. */
    audit?: AuditRouteConfig;
  }
}

export default fp(auditPlugin, { name: 'audit', fastify: '5.x', dependencies: ['config', 'db', 'errors', 'auth'] });
