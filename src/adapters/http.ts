import type { IncomingHttpHeaders } from 'node:http';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  CircuitState,
  ConsecutiveBreaker,
  TaskCancelledError,
  bulkhead,
  circuitBreaker,
  handleWhen,
} from 'cockatiel';
import type { BulkheadPolicy, CircuitBreakerPolicy, IDisposable } from 'cockatiel';
import { AppError, problem } from '../errors.js';
import { AddressRefusedError, checkAdapterUrl, createGuardedLookup } from './allowed-hosts.js';
import type { AllowedHostRules, ResolveHost } from './allowed-hosts.js';
import { CallCancelledError, startDeadline } from './deadline.js';
import type { Deadline, DeadlineSignal } from './deadline.js';
import { toProviderAnswer } from './protocol.js';
import type { AdapterKind } from './kinds.js';
import type { ProviderAdapter, ProviderAnswer, ProviderRequest } from './types.js';

/** The subset of a pino logger the adapters use. */
export interface AdapterLogger {
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
}

export interface HttpAdaptersOptions {
  /** Parsed `ADAPTER_ALLOWED_HOSTS`; checked again after DNS resolution on every new connection. */
  allowedHosts: AllowedHostRules;
  /** Signs the gateway JWT a provider verifies; `audience` is the provider department code. A cached token may come back at once. */
  signToken(audience: string): string | Promise<string>;
  maxResponseBytes?: number;
  maxConcurrentPerProvider?: number;
  maxQueuedPerProvider?: number;
  breaker?: { consecutiveFailures?: number; halfOpenAfterMs?: number };
  logger?: AdapterLogger;
  /** DNS resolution; tests replace it to play a rebinding resolver. Default: dns.lookup. */
  resolve?: ResolveHost;
}

export interface HttpAdapters {
  adapterFor(config: { url: string; timeoutMs: number }): ProviderAdapter;
  /** Closes every pool; calls made afterwards fail with PROVIDER_UNAVAILABLE. */
  close(): Promise<void>;
  /** The provider's circuit now ("closed" for a provider not called yet). */
  circuitState(provider: string): CircuitStateName;
}

export type CircuitStateName = 'closed' | 'half_open' | 'open';

/** Where an adapter sends its calls: the URL's origin and its path with the query. */
interface Target {
  origin: string;
  path: string;
}

const DEFAULTS = {
  maxResponseBytes: 1024 * 1024,
  maxConcurrentPerProvider: 32,
  maxQueuedPerProvider: 64,
  consecutiveFailures: 5,
  halfOpenAfterMs: 10_000,
} as const;

const POOL_SETTINGS = {
  pipelining: 1, // providers are plain HTTP/1.1 servers; pipelining would let one slow answer block others
  keepAliveTimeout: 4_000, // below Node's 5 s server default, so we never reuse a socket the provider is closing
  keepAliveMaxTimeout: 60_000,
  keepAliveTimeoutThreshold: 1_000,
  // The per-call deadline bounds headers and body; undici's own timers would fire as a different error.
  headersTimeout: 0,
  bodyTimeout: 0,
  connectTimeout: 10_000,
  maxHeaderSize: 16 * 1024,
  autoSelectFamily: true,
  autoSelectFamilyAttemptTimeout: 250,
} as const;

const COUNTED_FAILURES = new Set(['PROVIDER_ERROR', 'PROVIDER_TIMEOUT', 'PROVIDER_BAD_RESPONSE']);

/** What the circuit breaker counts: the provider failed or timed out, not the caller walking away. */
export function isProviderFailure(err: unknown): boolean {
  return err instanceof AppError && COUNTED_FAILURES.has(err.code) && !(err.cause instanceof CallCancelledError);
}

interface ProviderGate {
  breaker: CircuitBreakerPolicy;
  bulkhead: BulkheadPolicy;
}

export function createHttpAdapters(options: HttpAdaptersOptions): HttpAdapters {
  const rules = options.allowedHosts;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULTS.maxResponseBytes;
  const maxConcurrent = options.maxConcurrentPerProvider ?? DEFAULTS.maxConcurrentPerProvider;
  const maxQueued = options.maxQueuedPerProvider ?? DEFAULTS.maxQueuedPerProvider;
  const consecutiveFailures = options.breaker?.consecutiveFailures ?? DEFAULTS.consecutiveFailures;
  const halfOpenAfterMs = options.breaker?.halfOpenAfterMs ?? DEFAULTS.halfOpenAfterMs;
  const logger = options.logger;
  const pools = new Map<string, Pool>();
  const gates = new Map<string, ProviderGate>();
  const listeners: IDisposable[] = [];
  let closed = false;
  // Runs inside net.connect, so the address checked is the address connected to (no DNS rebinding).
  const lookup = createGuardedLookup(rules, options.resolve);
  // The last provider token and its Authorization value, written once (a token serves for half its life).
  let lastBearer = { token: '', header: '' };
  function bearer(token: string): string {
    if (lastBearer.token !== token) lastBearer = { token, header: `Bearer ${token}` };
    return lastBearer.header;
  }

  function poolFor(provider: string, origin: string): Pool {
    // One pool per provider *and* origin: two departments behind one host never share sockets,
    // so a hung provider cannot starve another of connections.
    const key = `${provider} ${origin}`;
    let pool = pools.get(key);
    if (pool === undefined) {
      pool = new Pool(origin, {
        ...POOL_SETTINGS,
        connections: maxConcurrent, // the bulkhead never lets more calls through than this
        maxResponseSize: maxResponseBytes, // backstop for the byte cap in AnswerReader
        connect: { lookup },
      });
      pools.set(key, pool);
    }
    return pool;
  }

  function gateFor(provider: string): ProviderGate {
    let gate = gates.get(provider);
    if (gate === undefined) {
      const breaker = circuitBreaker(handleWhen(isProviderFailure), {
        halfOpenAfter: halfOpenAfterMs,
        breaker: new ConsecutiveBreaker(consecutiveFailures),
      });
      listeners.push(
        breaker.onBreak(() => logger?.warn({ provider, halfOpenAfterMs }, 'provider circuit opened')),
        breaker.onHalfOpen(() => logger?.info({ provider }, 'provider circuit half-open: sending a probe')),
        breaker.onReset(() => logger?.info({ provider }, 'provider circuit closed')),
      );
      gate = { breaker, bulkhead: bulkhead(maxConcurrent, maxQueued) };
      gates.set(provider, gate);
    }
    return gate;
  }

  async function send(
    url: Target,
    provider: string,
    body: string,
    requestId: string,
    token: string,
    deadline: Deadline,
  ): Promise<ProviderAnswer> {
    try {
      const text = await new Promise<string>((resolve, reject) => {
        poolFor(provider, url.origin).dispatch(
          {
            method: 'POST',
            path: url.path,
            headers: {
              authorization: bearer(token),
              'content-type': 'application/json',
              accept: 'application/json',
              'x-request-id': requestId,
            },
            body,
          },
          new AnswerReader(provider, url.origin, maxResponseBytes, deadline.signal, resolve, reject),
        );
      });
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw problem('PROVIDER_BAD_RESPONSE', `provider ${provider} answered with a body that is not JSON`, { cause: err });
      }
      const answer = toProviderAnswer(parsed);
      if (answer === undefined) {
        throw problem(
          'PROVIDER_BAD_RESPONSE',
          `provider ${provider} answered outside the provider protocol: expected {found: true, record: {...}} or {found: false}`,
        );
      }
      return answer;
    } catch (err) {
      throw classify(err, provider, deadline);
    }
  }

  function classify(err: unknown, provider: string, deadline: Deadline): AppError {
    const expired = deadline.failure();
    if (expired !== undefined) return expired;
    if (err instanceof AppError) return err;
    if (hasCause(err, (e) => e instanceof AddressRefusedError)) {
      logger?.warn({ provider, err }, 'provider address refused by ADAPTER_ALLOWED_HOSTS');
      return problem('PROVIDER_ERROR', `provider ${provider} resolved to an address that ADAPTER_ALLOWED_HOSTS does not admit`, {
        cause: err,
      });
    }
    if (hasCause(err, (e) => (e as { code?: unknown }).code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE')) {
      return problem('PROVIDER_BAD_RESPONSE', `provider ${provider} answered with more than ${maxResponseBytes} bytes`, { cause: err });
    }
    return problem('PROVIDER_ERROR', `could not reach provider ${provider}`, { cause: err });
  }

  async function call(
    url: Target,
    ceilingMs: number,
    request: ProviderRequest,
    context: Parameters<ProviderAdapter['call']>[1],
  ): Promise<ProviderAnswer> {
    const { provider } = context;
    if (closed) throw problem('PROVIDER_UNAVAILABLE', `provider ${provider} cannot be called: the gateway is shutting down`);
    // The type's registered timeout is a ceiling; a caller with less time left (a batch) may ask for less.
    const timeoutMs = Math.min(ceilingMs, context.timeoutMs);
    const deadline = startDeadline(provider, timeoutMs, context.signal);
    try {
      // A token at hand (the signer reuses one for half its life) needs no race against the deadline.
      const signed = tokenFor(provider);
      const token = typeof signed === 'string' ? signed : await deadline.race(signed);
      const body = JSON.stringify(request);
      const gate = gateFor(provider);
      // cockatiel reads only a signal's `aborted`: the deadline is checked as the call leaves the
      // bulkhead's queue instead (a call whose deadline passed while queued is cancelled, not sent).
      const attempt = gate.breaker.execute(async () => {
        const answer = await gate.bulkhead.execute(() => {
          if (deadline.signal.aborted) throw new TaskCancelledError();
          return send(url, provider, body, request.requestId, token, deadline);
        });
        context.check?.(answer);
        return answer;
      });
      return await deadline.race(attempt);
    } catch (err) {
      if (err instanceof AppError) throw err;
      if (err instanceof BrokenCircuitError) {
        throw problem('PROVIDER_UNAVAILABLE', `provider ${provider} is unavailable after repeated failures; retry later`, {
          cause: err,
          headers: { 'retry-after': String(Math.ceil(halfOpenAfterMs / 1000)) },
        });
      }
      if (err instanceof BulkheadRejectedError) {
        throw problem('PROVIDER_UNAVAILABLE', `provider ${provider} has too many calls in progress; retry later`, { cause: err });
      }
      // A queued call whose deadline passed surfaces as cockatiel's TaskCancelledError.
      throw deadline.failure() ?? problem('PROVIDER_ERROR', `the call to provider ${provider} failed`, { cause: err });
    } finally {
      deadline.dispose();
    }
  }

  function tokenFor(provider: string): string | Promise<string> {
    let signed: string | Promise<string>;
    try {
      signed = options.signToken(provider);
    } catch (err) {
      throw signingFailed(provider, err);
    }
    return typeof signed === 'string'
      ? signed
      : signed.then(undefined, (err: unknown) => {
          throw signingFailed(provider, err);
        });
  }

  // The adapter for each configuration, built (and its URL checked) once: the rules are fixed for
  // the life of the process, so checking the same URL again on every call only cost CPU (issue 12).
  const adapters = new Map<string, ProviderAdapter>();

  function buildAdapter(config: { url: string; timeoutMs: number }): ProviderAdapter {
    // Checked here as well as at registration: ADAPTER_ALLOWED_HOSTS may have narrowed since.
    const check = checkAdapterUrl(config.url, rules);
    if (!check.ok) {
      return {
        call: (_, { provider }) =>
          Promise.reject(problem('PROVIDER_ERROR', `the adapter URL of provider ${provider} is not allowed: ${check.reason}`)),
      };
    }
    const parsed = new URL(config.url);
    // Read from the URL once: its getters build new strings on every read.
    const url: Target = { origin: parsed.origin, path: parsed.pathname + parsed.search };
    return { call: (request, context) => call(url, config.timeoutMs, request, context) };
  }

  return {
    adapterFor(config) {
      const key = `${config.timeoutMs} ${config.url}`;
      let adapter = adapters.get(key);
      if (adapter === undefined) {
        if (adapters.size >= 1000) adapters.clear(); // registered URLs are few; this only bounds surprises
        adapter = buildAdapter(config);
        adapters.set(key, adapter);
      }
      return adapter;
    },
    circuitState(provider) {
      const state = gates.get(provider)?.breaker.state;
      if (state === CircuitState.Open || state === CircuitState.Isolated) return 'open';
      return state === CircuitState.HalfOpen ? 'half_open' : 'closed';
    },
    async close() {
      closed = true;
      for (const listener of listeners.splice(0)) listener.dispose();
      const all = [...pools.values()];
      pools.clear();
      gates.clear();
      await Promise.all(all.map((pool) => pool.close()));
    },
  };
}

/**
 * Reads one provider answer straight from undici's dispatcher: the status, then the body as bytes,
 * at most `limit` of them. Settles with the body's text after the last byte, or rejects. A call the
 * gateway gives up on (deadline passed, caller gone, HTTP status outside 2xx, too many bytes) is
 * aborted, which drops its socket rather than keep reading or buffering an answer nobody will read.
 * `pool.request` made a Readable stream, an async resource and a promise per call for the same
 * work, several µs of every lookup (issue 12).
 */
class AnswerReader implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly provider: string,
    private readonly origin: string,
    private readonly limit: number,
    private readonly signal: DeadlineSignal,
    private readonly resolve: (text: string) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    // The deadline is one call's: its signal and this listener are dropped with the call (an
    // abort after the answer is complete is a no-op for undici). An inline arrow, not a class
    // field: tsx names a field's function with Object.defineProperty on every instance.
    signal.on('abort', () => this.controller?.abort(abortReason(this.signal)));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // The deadline may have passed while the call waited for a connection.
    if (this.signal.aborted) controller.abort(abortReason(this.signal));
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (status < 200) return; // informational (1xx): the answer's own status follows
    if (status > 299) {
      const what = status >= 300 && status < 400 ? `a redirect (HTTP ${status}), which the gateway does not follow` : `HTTP ${status}`;
      const cause = new Error(`HTTP ${status} from ${this.origin}`);
      controller.abort(problem('PROVIDER_ERROR', `provider ${this.provider} answered ${what}`, { cause }));
      return;
    }
    // A declared length over the cap is refused before a byte of the body is read; undici's
    // maxResponseSize and the count in onResponseData stop an undeclared one.
    const declared = Number(headers['content-length']);
    if (Number.isFinite(declared) && declared > this.limit) controller.abort(tooLarge(this.provider, this.limit));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.limit) controller.abort(tooLarge(this.provider, this.limit));
    else this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    const { chunks } = this;
    this.resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, this.size).toString('utf8'));
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.reject(err);
  }
}

function abortReason(signal: DeadlineSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new CallCancelledError(signal.reason);
}

function tooLarge(provider: string, limit: number): AppError {
  return problem('PROVIDER_BAD_RESPONSE', `provider ${provider} answered with more than ${limit} bytes`);
}

/** Our failure, not the provider's: not counted by the breaker. */
function signingFailed(provider: string, err: unknown): AppError {
  return problem('INTERNAL_ERROR', `the gateway could not sign its token for provider ${provider}`, { cause: err });
}

function hasCause(err: unknown, test: (e: Error) => boolean): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (test(e)) return true;
  }
  return false;
}

/** `{kind: "http", url, timeoutMs}`: a provider department reached over HTTP (openapi/provider.yaml). */
export const httpAdapterKind: AdapterKind<'http'> = {
  kind: 'http',
  validate(config, context) {
    const url = checkAdapterUrl(config.url, context.allowedHosts);
    if (!url.ok) throw problem('VALIDATION_FAILED', `body/adapter/url is refused: ${url.reason}`);
  },
  create(config, runtime) {
    return { adapter: runtime.http.adapterFor(config), timeoutMs: config.timeoutMs };
  },
};
