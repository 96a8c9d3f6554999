import { ConsentPending } from '../consents/gate.js';
import { runBatch, type BatchRequest } from './batch.js';
import { runCase, type CaseRequest } from './cases.js';
import type { Caller, LookupDeps } from './deps.js';
import { fetchOne, type Fetched, type FetchItem } from './flow.js';
import { verifyClaim, type VerificationRequest, type VerificationAnswer } from './verify.js';

/** An answer and the status it is sent with. */
export interface Answer<S extends number, B> {
  status: S;
  body: B;
}

/** The consumer API's operations (gateway.yaml, tags lookups and cases), one per route. */
export interface Lookups {
  /** 200 with the record, or 202 when a consent-required type waits for the subject (issue 15). */
  lookup(
    caller: Caller,
    body: FetchItem,
  ): Promise<Answer<200, Fetched> | Answer<202, { consentId: string; status: 'pending'; expiresAt: string }>>;
  batch(caller: Caller, body: BatchRequest): Promise<Answer<200, Awaited<ReturnType<typeof runBatch>>>>;
  verify(caller: Caller, body: VerificationRequest): Promise<Answer<200, VerificationAnswer>>;
  procedures(): Promise<Answer<200, { procedures: Array<{ code: string; title: string; materials: string[] }> }>>;
  runCase(caller: Caller, body: CaseRequest): Promise<Answer<201, Awaited<ReturnType<typeof runCase>>>>;
}

/** The lookup service over its dependencies; each operation reads the current registry snapshot. */
export function createLookups(deps: LookupDeps): Lookups {
  return {
    async lookup(caller, body) {
      const snapshot = await deps.registry.get();
      try {
        return { status: 200, body: await fetchOne(deps, caller, snapshot, body, 'lookup') };
      } catch (err) {
        // A consent-required type: nothing released until the subject approves (issue 15).
        if (err instanceof ConsentPending) {
          return { status: 202, body: { consentId: err.consentId, status: err.status, expiresAt: err.expiresAt } };
        }
        throw err;
      }
    },
    async batch(caller, body) {
      return { status: 200, body: await runBatch(deps, caller, await deps.registry.get(), body) };
    },
    async verify(caller, body) {
      return { status: 200, body: await verifyClaim(deps, caller, await deps.registry.get(), body) };
    },
    async procedures() {
      const snapshot = await deps.registry.get();
      const procedures = [...snapshot.procedures.values()].map((p) => ({ code: p.code, title: p.title, materials: p.materials }));
      return { status: 200, body: { procedures } };
    },
    async runCase(caller, body) {
      const answer = await runCase(deps, caller, await deps.registry.get(), body);
      deps.metrics.recordCase(caller.principal.department, answer);
      return { status: 201, body: answer };
    },
  };
}
