import net from 'node:net';
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
          body: lookupJson(options.person, caseId),
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
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `load condition not reached in ${timeoutMs} ms (${answers.length} answers, last ${JSON.stringify(answers.at(-1))})`,
              ),
            ),
          timeoutMs,
        );
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

export function lookupJson(person: string, caseId: string): string {
  return JSON.stringify({
    type: 'household-registration',
    subject: { kind: 'person', id: person },
    purpose: 'housing-fund-withdrawal',
    caseId,
  });
}

export function httpRequest(method: string, path: string, token: string, body?: string): string {
  const head = [`${method} ${path} HTTP/1.1`, 'host: 127.0.0.1', `authorization: Bearer ${token}`, 'connection: keep-alive'];
  if (body !== undefined) head.push('content-type: application/json', `content-length: ${Buffer.byteLength(body)}`);
  return `${head.join('\r\n')}\r\n\r\n${body ?? ''}`;
}

interface RawResponse {
  status: number;
  contentType: string;
  body: unknown;
}

/**
 * One HTTP/1.1 connection written by hand, so that a request can be sent on a connection that is
 * busy while the gateway starts closing (fetch would open a new one, which is refused by then).
 */
export function rawConnection(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  let data = Buffer.alloc(0);
  let ended = false;
  const changed: Array<() => void> = [];
  const notify = () => changed.splice(0).forEach((f) => f());
  socket.on('data', (chunk: Buffer) => {
    data = Buffer.concat([data, chunk]);
    notify();
  });
  socket.on('close', () => {
    ended = true;
    notify();
  });
  socket.on('error', () => undefined);
  /** Complete responses so far (content-length framed, as Fastify sends JSON). */
  const parse = (): RawResponse[] => {
    const out: RawResponse[] = [];
    let at = 0;
    for (;;) {
      const headEnd = data.indexOf('\r\n\r\n', at);
      if (headEnd < 0) return out;
      const head = data.subarray(at, headEnd).toString('latin1');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (data.length < headEnd + 4 + length) return out;
      const text = data.subarray(headEnd + 4, headEnd + 4 + length).toString('utf8');
      out.push({
        status: Number(head.split(' ')[1]),
        contentType: /\r\ncontent-type: *([^\r]*)/i.exec(head)?.[1] ?? '',
        body: JSON.parse(text),
      });
      at = headEnd + 4 + length;
    }
  };
  return {
    send: (text: string) => socket.write(text),
    async responses(n: number, timeoutMs = 15_000): Promise<RawResponse[]> {
      const deadline = Date.now() + timeoutMs;
      while (parse().length < n && !ended && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          changed.push(resolve);
          setTimeout(resolve, 100);
        });
      }
      socket.destroy();
      return parse();
    },
  };
}

/** The value of one Prometheus gauge of the gateway (NaN when absent). */
export async function metric(gw: ChildGateway, name: string): Promise<number> {
  const text = await fetch(`${gw.url}/metrics`).then((r) => r.text());
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

/** Waits until `read()` satisfies `ok` and has not changed for `steadyMs`. */
export async function untilSteady(
  read: () => Promise<number>,
  ok: (v: number) => boolean,
  steadyMs: number,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = NaN;
  let since = Date.now();
  for (;;) {
    const value = await read();
    if (value !== last) {
      last = value;
      since = Date.now();
    } else if (ok(value) && Date.now() - since >= steadyMs) {
      return;
    }
    if (Date.now() > deadline) throw new Error(`value ${value} not steady and acceptable after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the port refuses new connections (the gateway has stopped listening). */
export async function untilRefused(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => (s.destroy(), resolve(false)));
      s.on('error', () => resolve(true));
    });
    if (refused) return;
    if (Date.now() > deadline) throw new Error(`port ${port} still accepts connections after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
