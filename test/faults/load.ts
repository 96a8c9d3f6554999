import { Agent, fetch } from 'undici';
import type { ChildGateway } from '../helpers/child-gateway.js';

/** Rate limits far above what the fault suite sends: it measures faults, not quotas. */
export const UNLIMITED = { RATE_LIMIT_PER_MINUTE: '1000000', UNAUTH_RATE_LIMIT_PER_MINUTE: '1000000' };

/** One answer of the load: what the fault suite checks against the audit trail. */
export interface LoadAnswer {
  caseId: string;
  /** HTTP status, or 0 when the request failed without an answer (connection refused or reset). */
  status: number;
  code?: string;
  lookupId?: string;
  hasRecord: boolean;
  problemJson: boolean;
  error?: string;
}

export interface Load {
  readonly answers: LoadAnswer[];
  /** Resolves once `done(answers)` holds (checked after every answer); rejects after `timeoutMs`. */
  until(done: (answers: LoadAnswer[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<void>;
}

/** `workers` lookups in flight at all times over real HTTP, each with its own caseId. */
export function runLoad(gw: ChildGateway, options: { token: string; person: string; workers: number; prefix: string }): Load {
  const dispatcher = new Agent({ connections: options.workers, keepAliveTimeout: 2_000 });
  const answers: LoadAnswer[] = [];
  const waiters: Array<{ done: (a: LoadAnswer[]) => boolean; resolve: () => void }> = [];
  let stopped = false;
  const record = (a: LoadAnswer) => {
    answers.push(a);
    for (const w of [...waiters]) {
      if (w.done(answers)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  const worker = async (w: number) => {
    for (let n = 0; !stopped; n += 1) {
      const caseId = `${options.prefix}-${w}-${n}`;
      try {
        const res = await fetch(`${gw.url}/v1/lookups`, {
          method: 'POST',
          headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'household-registration', subject: { kind: 'person', id: options.person }, purpose: 'housing-fund-withdrawal', caseId }),
          dispatcher,
        });
        const body = (await res.json()) as Record<string, unknown>;
        record({
          caseId,
          status: res.status,
          code: typeof body.code === 'string' ? body.code : undefined,
          lookupId: typeof body.lookupId === 'string' ? body.lookupId : undefined,
          hasRecord: 'record' in body,
          problemJson: (res.headers.get('content-type') ?? '').startsWith('application/problem+json'),
        });
      } catch (err) {
        record({ caseId, status: 0, hasRecord: false, problemJson: false, error: String((err as Error).cause ?? err) });
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  const running = Promise.all(Array.from({ length: options.workers }, (_v, w) => worker(w)));
  return {
    answers,
    until(done, timeoutMs = 20_000) {
      if (done(answers)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`load condition not reached in ${timeoutMs} ms (${answers.length} answers, last ${JSON.stringify(answers.at(-1))})`)), timeoutMs);
        waiters.push({ done, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
    async stop() {
      stopped = true;
      await running;
      await dispatcher.close();
    },
  };
}
