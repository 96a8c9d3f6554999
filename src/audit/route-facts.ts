import type { AuditFacts } from './build.js';
import type { AuditAction } from './event.js';

/**
 * What a route's refusals record (STYLE.md rule 12), declared in its `config.audit`: the action,
 * and which body members hold the subject, type, purpose, case id, officer and OAuth client id.
 * src/plugins/audit.ts checks it once per route (`checkAuditRoute`) and builds the event of a
 * refused request from it (`refusalFacts`), so that no member is guessed.
 */
export interface AuditRouteConfig {
  action: AuditAction;
  /** Body member holding the raw subject `{kind, id}`; only its HMAC and masked form are recorded. */
  subject?: string;
  type?: string;
  purpose?: string;
  caseId?: string;
  officer?: string;
  /** Body member holding the OAuth client id, recorded as `detail.clientId`. */
  clientId?: string;
}

const MEMBERS = ['subject', 'type', 'purpose', 'caseId', 'officer', 'clientId'] as const;

/**
 * Throws (so the gateway refuses to start) when a route's audit facts do not fit its body: a
 * declared member its body schema lacks, a body member holding a subject that a refusal would
 * silently lose, or the old `auditAction` key. `bodyProperties` is null for a route without a body.
 */
export function checkAuditRoute(
  where: string,
  config: { audit?: AuditRouteConfig; auditAction?: unknown } | undefined,
  bodyProperties: Record<string, unknown> | null,
): void {
  if (config?.auditAction !== undefined) throw new Error(`${where}: config.auditAction is gone; declare config.audit = { action, ... }`);
  const audit = config?.audit;
  const subjectMembers = Object.entries(bodyProperties ?? {})
    .filter(([, schema]) => isSubjectSchema(schema))
    .map(([name]) => name);
  if (!audit) {
    if (subjectMembers.length > 0) {
      throw new Error(`${where}: its body carries a subject (${subjectMembers.join(', ')}) but the route declares no config.audit`);
    }
    return;
  }
  if (typeof audit.action !== 'string') throw new Error(`${where}: config.audit.action is missing`);
  for (const key of MEMBERS) {
    const member = audit[key];
    if (member !== undefined && !Object.hasOwn(bodyProperties ?? {}, member)) {
      throw new Error(`${where}: config.audit.${key} names body member "${member}", which its body schema lacks`);
    }
  }
  const undeclared = subjectMembers.filter((m) => m !== audit.subject);
  if (undeclared.length > 0) {
    throw new Error(`${where}: config.audit.subject must name the body's subject member (${undeclared.join(', ')})`);
  }
}

/** The properties of a route's body schema, resolving `$ref`s to gateway.yaml's components and `allOf`. */
export function bodyPropertiesOf(schema: unknown, components: Record<string, unknown>): Record<string, unknown> | null {
  const resolved = resolve(schema, components);
  if (!resolved) return null;
  const own = (resolved.properties ?? {}) as Record<string, unknown>;
  const merged: Record<string, unknown> = {};
  for (const part of (resolved.allOf ?? []) as unknown[]) Object.assign(merged, bodyPropertiesOf(part, components) ?? {});
  return { ...merged, ...own };
}

function resolve(schema: unknown, components: Record<string, unknown>): Record<string, unknown> | null {
  if (!schema || typeof schema !== 'object') return null;
  const ref = (schema as { $ref?: unknown }).$ref;
  if (typeof ref !== 'string') return schema as Record<string, unknown>;
  const name = /#\/components\/schemas\/([^/]+)$/.exec(ref)?.[1];
  return name ? resolve(components[name], components) : null;
}

function isSubjectSchema(schema: unknown): boolean {
  const ref = schema && typeof schema === 'object' ? (schema as { $ref?: unknown }).$ref : undefined;
  return typeof ref === 'string' && ref.endsWith('/SubjectInput');
}

/**
 * The audit facts of a refused request, from its unvalidated body: only members that fit their
 * contract pattern are kept (gateway.yaml), so free text — CR/LF, formula text, anything else —
 * never reaches the trail or the citizen's data tracker. A member that does not fit is null.
 */
export function refusalFacts(audit: AuditRouteConfig, body: Record<string, unknown>, error: { code: string; status: number }): AuditFacts {
  const member = (name: string | undefined) => (name === undefined ? undefined : body[name]);
  return {
    action: audit.action,
    outcome: error.code === 'RECORD_NOT_FOUND' ? 'not_found' : error.status < 500 ? 'denied' : 'error',
    errorCode: error.code,
    type: str(member(audit.type), CODE),
    purpose: str(member(audit.purpose), CODE),
    caseId: str(member(audit.caseId), CASE_ID),
    officer: str(member(audit.officer), CASE_ID),
    subject: pickSubject(member(audit.subject)),
    detail: audit.clientId === undefined ? null : { clientId: str(member(audit.clientId), CLIENT_ID) },
  };
}

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
