import type { ProviderAdapter } from '../adapters/types.js';
import type { AuditFacts, AuditScope, DescribeSubject } from '../audit/build.js';
import type { AuditEvent } from '../audit/event.js';
import type { ConsentSettings } from '../consents/model.js';
import type { DB } from '../db/index.js';
import type { SigningKey } from '../keys/keyring.js';
import type { Principal } from '../plugins/auth.js';
import type { AdapterConfig } from '../registry/model.js';
import type { RegistrySnapshot } from '../registry/snapshot.js';
import type { Subject } from '../subjects/index.js';

/**
 * Who is asking, as the lookup flow sees a request (STYLE.md rule 11): built once per request by
 * `callerOf` in src/plugins/lookups.ts, so that the flow never holds the FastifyRequest.
 */
export interface Caller extends AuditScope {
  principal: Principal;
  requestId: string;
  log: { warn(obj: object, msg: string): void };
  startedAt: number;
  /** Called once an event of this request is written, so that its refusal is not recorded twice. */
  markAudited(): void;
}

/** Where the flow writes its events (src/plugins/audit.ts implements it). */
export interface LookupAudit {
  /** Writes one event and resolves once it is committed. */
  record(caller: Caller, facts: AuditFacts): Promise<AuditEvent>;
  describeSubject: DescribeSubject;
  /** describeSubject for a subject the flow has parsed: later calls with the same object reuse it. */
  describeParsed(subject: { kind: string; id: string }, parsed: Subject): ReturnType<DescribeSubject> & { masked: string };
}

/**
 * Everything the lookup flow needs, created once by src/plugins/lookups.ts. Members are read when
 * used, so that what a test replaces on the app (an audit `record`, the consent clock) is seen.
 */
export interface LookupDeps {
  /** The current registry snapshot (catalogue, grants, procedures). */
  registry: { get(): Promise<RegistrySnapshot> };
  adapters: { resolve(config: AdapterConfig): { adapter: ProviderAdapter; timeoutMs: number } };
  audit: LookupAudit;
  /** The proof signer: the keyring's current key and the gateway's issuer. */
  signer: { keyring: { readonly current: SigningKey }; issuer: string };
  /** Now, as time-based rules (covert grants' disclosure) see it. */
  clock: () => Date;
  /** The consent gate's database, time-to-live and clock (src/consents/gate.ts). */
  consents: { db: DB; settings: ConsentSettings };
  /** Whether an objection to a subject's record of a type is open (src/objections/disputes.ts). */
  disputes: { isDisputed(type: string, subjectHmac: () => string): boolean | Promise<boolean> };
  /** VERIFY_BUDGET_PER_DAY and the verifications under way on this replica (src/lookups/verify.ts). */
  verifyBudget: { db: DB; perDay: number; inFlight: Map<string, number> };
  /** Told about every answered case (src/reports/metrics.ts `CaseMetrics`). */
  metrics: {
    recordCase(consumer: string, answer: { procedure: string; materials: ReadonlyArray<{ status: string; reason?: string }> }): void;
  };
}
