import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { RefusalSummary } from '../audit/refusal-summary.js';
import { problem } from '../errors.js';
import { toAppError } from './errors.js';

const WINDOW_MS = 60_000;
/** Routes nobody authenticates on: probes, keys, the contract, the console's files and public statistics. */
const OPEN_PATHS = /^\/(?:healthz|readyz|metrics|openapi\.json|docs|console|\.well-known\/|v1\/public\/)/;
const BEARER = /^Bearer\s+(\S+)$/i;
/** Beyond this many remembered tokens the oldest half is dropped (a token is ~0.1 kB here). */
const MAX_REMEMBERED_TOKENS = 50_000;

/**
 * Requests without a valid token, limited per address before any signature check or audit write
 * (UNAUTH_RATE_LIMIT_PER_MINUTE; issue 10.2). Without it anyone who reaches the port could write
 * one audit event per request (each refused lookup is audited) and fill the trail and the disk.
 *
 * - The counter is per address (request.ip, so per real client behind a TRUST_PROXY proxy), in the
 *   same store as the per-client quotas: Redis when REDIS_URL is set (shared by the replicas), else
 *   this process. If Redis is unreachable the limit is not enforced (as for the per-client quotas).
 * - It counts refusals of unauthenticated requests (401s, and the token endpoint's refusals that no
 *   known client id answers for: unknown ids, malformed bodies). Requests that authenticate are never
 *   counted, so a busy legitimate client does not use up its address's allowance.
 * - At onRequest, on every route that authenticates (all but OPEN_PATHS and routes configured with
 *   `rateLimit: false` or `unauthLimit: false`), an address whose count has reached the limit is
 *   refused 429 RATE_LIMITED with Retry-After, before the token is looked at — unless the request
 *   carries a token this replica has already verified (a department system whose token was issued
 *   before the flood keeps working; its request is still verified in full afterwards).
 * - Refusals past the limit write no event each: one `rate.limited` summary per address per minute
 *   (src/audit/refusal-summary.ts). The same holds for every 429 given to an unauthenticated request,
 *   such as the token endpoint's own quota.
 */
async function unauthLimitPlugin(app: FastifyInstance) {
  const limiter = app.createRateLimit({
    max: app.config.unauthRateLimitPerMinute,
    timeWindow: WINDOW_MS,
    keyGenerator: (request: FastifyRequest) => `unauth:${request.ip}`,
  });
  // @fastify/rate-limit's in-process store hands every caller the same mutable counter object, so
  // concurrent increments would all read the final count; one at a time, each reads its own.
  let lastCount: Promise<unknown> = Promise.resolve();
  const countFailure = (request: FastifyRequest) => {
    const counted = lastCount.then(() => limiter(request));
    lastCount = counted.catch(() => undefined);
    return counted;
  };
  const verified = new VerifiedTokens(app.config.tokenTtlSeconds * 1000);
  const summary = new RefusalSummary({ sink: () => app.audit.writer, logger: app.log, intervalMs: WINDOW_MS });
  const sweep = setInterval(() => summary.sweep(), WINDOW_MS);
  sweep.unref();

  const countAllows = async (request: FastifyRequest) => {
    const state = await limiter(request, { increment: false });
    if (state.isAllowed || state.remaining > 0) return;
    const retryAfter = String(Math.max(1, state.ttlInSeconds));
    throw problem('RATE_LIMITED', `too many requests without a valid token from this address; retry in ${retryAfter} s`, {
      headers: { 'retry-after': retryAfter },
    });
  };
  const checkAddress: onRequestHookHandler = (request, _reply, done) => {
    // A token this replica has verified passes whatever its address's count: asked first and
    // answered at once, as it is known in memory while the count may be a Redis round trip (issue 12).
    if (verified.has(bearerToken(request))) return done();
    countAllows(request).then(() => done(), done);
  };

  // The check is added to the routes it applies to as they are added, first among their own
  // onRequest hooks (so before their token check), instead of a global hook reading every
  // request's route options (issue 12). Global onRequest hooks still run before it, as before.
  app.addHook('onRoute', (route: RouteOptions) => {
    const config = route.config ?? {};
    const open = config.unauthLimit === false || config.rateLimit === false || OPEN_PATHS.test(route.url);
    route.config = { ...config, unauthLimit: !open };
    if (open) return;
    const own = route.onRequest;
    route.onRequest = own === undefined ? [checkAddress] : [checkAddress, ...(Array.isArray(own) ? own : [own])];
  });

  // onError runs before the error handler, so the decision below reaches the audit plugin's
  // refusal listener in time (it skips requests marked `auditRecorded`).
  app.addHook('onError', async (request, _reply, error) => {
    if (request.principal) return;
    const refusal = toAppError(error);
    if (refusal.status === 429) {
      if (!request.auditRecorded) {
        request.auditRecorded = true;
        summary.note(request.ip, String(request.id));
      }
      return;
    }
    if (refusal.status < 400 || refusal.status >= 500 || request.routeOptions.config?.unauthLimit !== true) return;
    // A wrong secret for a known client id counts against that client's own token quota only.
    if (request.tokenClientKnown) return;
    const state = await countFailure(request);
    // Concurrent requests may all have passed the check at onRequest: past the limit, summarise.
    if (!state.isAllowed && state.isExceeded) {
      request.auditRecorded = true;
      summary.note(request.ip, String(request.id));
    }
  });

  app.addHook('onResponse', (request, _reply, done) => {
    if (request.principal) verified.remember(bearerToken(request));
    done();
  });

  app.decorate('unauthLimit', { flushSummaries: async () => (summary.sweep(true), summary.settled()) });
  app.decorateRequest('tokenClientKnown', false);
  app.addHook('onClose', async () => {
    clearInterval(sweep);
    summary.sweep(true);
    await summary.settled();
  });
}

function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  return typeof header === 'string' ? (BEARER.exec(header)?.[1] ?? null) : null;
}

/** Beyond this many recently remembered tokens (held as sent, like src/auth/token-cache.ts) the memo is emptied. */
const MAX_RECENT_TOKENS = 1000;

/** SHA-256 digests of tokens that authenticated on this replica, kept for at most a token's lifetime. */
class VerifiedTokens {
  private readonly until = new Map<string, number>();
  /**
   * Tokens remembered lately, as sent, with the time their digest is kept until: a client sends the
   * same token request after request, and hashing it again on each answer was CPU spent on nothing.
   */
  private readonly recent = new Map<string, number>();
  constructor(private readonly ttlMs: number) {}

  remember(token: string | null): void {
    if (!token) return;
    const recentUntil = this.recent.get(token);
    if (recentUntil !== undefined && recentUntil > Date.now()) return;
    const key = digest(token);
    if (this.recent.size >= MAX_RECENT_TOKENS) this.recent.clear();
    const known = this.until.get(key);
    if (known !== undefined) {
      this.recent.set(token, known);
      return;
    }
    if (this.until.size >= MAX_REMEMBERED_TOKENS) this.dropOldest();
    const until = Date.now() + this.ttlMs;
    this.until.set(key, until);
    this.recent.set(token, until);
  }

  has(token: string | null): boolean {
    if (!token) return false;
    const recentUntil = this.recent.get(token);
    if (recentUntil !== undefined && recentUntil > Date.now()) return true;
    const until = this.until.get(digest(token));
    return until !== undefined && until > Date.now();
  }

  private dropOldest(): void {
    this.recent.clear();
    let n = 0;
    for (const key of this.until.keys()) {
      if (n++ >= MAX_REMEMBERED_TOKENS / 2) break;
      this.until.delete(key);
    }
  }
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

declare module 'fastify' {
  interface FastifyInstance {
    unauthLimit: {
      /** Writes every pending `rate.limited` summary now and waits for it (shutdown, tests). */
      flushSummaries(): Promise<void>;
    };
  }
  interface FastifyRequest {
    /** Set by the token endpoint's quota when the client id it names exists (src/auth/routes.ts). */
    tokenClientKnown: boolean;
  }
  interface FastifyContextConfig {
    /** false: requests to this route are not limited per address when unauthenticated (set for open routes). */
    unauthLimit?: boolean;
  }
}

export default fp(unauthLimitPlugin, {
  name: 'unauth-limit',
  fastify: '5.x',
  dependencies: ['config', 'errors', 'audit', 'auth', 'rate-limit'],
});
