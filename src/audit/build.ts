import { randomUUID } from 'node:crypto';
import type { AuditEventInput } from './event.js';

/** What a route or the flow knows about one audited action; the scope adds who, when and the request id. */
export type AuditFacts = Partial<Omit<AuditEventInput, 'id' | 'time' | 'requestId' | 'consumer' | 'clientId' | 'latencyMs'>> &
  Pick<AuditEventInput, 'action' | 'outcome'> & {
    /** Raw subject as sent; only its HMAC and masked form reach the event. */
    subject?: { kind: string; id: string } | null;
    id?: string;
  };

/** The request an event belongs to: who asked, under which request id, since when. */
export interface AuditScope {
  requestId: string;
  principal: { department: string; clientId: string } | null;
  /** performance.now() when the request began; null for events no request waits on (latency 0). */
  startedAt: number | null;
}

/** Keyed HMAC and masked form of a raw subject (src/plugins/audit.ts `describeSubject`). */
export type DescribeSubject = (subject: { kind: string; id: string }) => {
  kind: 'person' | 'enterprise' | null;
  hmac: string;
  masked: string | null;
};

/**
 * The one constructor of audit events: every event the gateway writes (a request's, a refusal's,
 * a rate-limit summary's) and the tests' synthetic ones are built here, so that no member is
 * forgotten and the raw subject id never reaches the input. `now` is the event's time (default: now);
 * `latencyMs` is measured from `scope.startedAt` unless given.
 */
export function buildAuditEvent(
  scope: AuditScope,
  facts: AuditFacts,
  options: { describeSubject?: DescribeSubject; now?: Date; latencyMs?: number } = {},
): AuditEventInput {
  const subject = facts.subject && options.describeSubject ? options.describeSubject(facts.subject) : null;
  const latencyMs = options.latencyMs ?? (scope.startedAt === null ? 0 : Math.max(0, Math.round(performance.now() - scope.startedAt)));
  const event: AuditEventInput = {
    id: facts.id ?? randomUUID(),
    time: (options.now ?? new Date()).toISOString(),
    requestId: scope.requestId,
    consumer: scope.principal?.department ?? null,
    clientId: scope.principal?.clientId ?? null,
    officer: facts.officer ?? null,
    action: facts.action,
    type: facts.type ?? null,
    provider: facts.provider ?? null,
    subjectKind: facts.subjectKind ?? subject?.kind ?? null,
    subjectHmac: facts.subjectHmac ?? subject?.hmac ?? null,
    subjectMasked: facts.subjectMasked ?? subject?.masked ?? null,
    purpose: facts.purpose ?? null,
    caseId: facts.caseId ?? null,
    fields: facts.fields ?? [],
    outcome: facts.outcome,
    errorCode: facts.errorCode ?? null,
    latencyMs,
    recordDigest: facts.recordDigest ?? null,
    detail: facts.detail ?? null,
  };
  // Only on a covert grant's event; absent, not undefined, on every other (src/audit/event.ts). Set
  // here rather than spread into the literal above, which made every event's members slow to define.
  if (facts.discloseAt) {
    event.covert = true;
    event.discloseAt = facts.discloseAt;
  }
  return event;
}
