import { createServer } from 'node:http';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { JSONWebKeySet } from 'jose';

/**
 * How the fake department answers:
 * - ok: 200 {found: true, record}          - notFound: 200 {found: false}
 * - hang: reads the request, never answers  - status500: 500 with a body that must never leak
 * - oversized: 200 and an endless JSON body - redirect: 302 to `redirectTo`
 * - badEnvelope: 200 with `badEnvelopeBody` (default: valid JSON outside the protocol)
 * - stallBody: 200, headers and half a body, then nothing (a timeout must cover the body too)
 */
export type FakeBehaviour = 'ok' | 'notFound' | 'hang' | 'status500' | 'oversized' | 'redirect' | 'badEnvelope' | 'stallBody';

export interface FakeProviderSettings {
  behaviour: FakeBehaviour;
  /** Wait this long before answering (any behaviour). */
  delayMs: number;
  record: Record<string, unknown>;
  redirectTo: string;
  badEnvelopeBody: string;
}

export interface ReceivedCall {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, or the raw text when it is not JSON. */
  body: unknown;
}

export interface FakeProvider {
  url: string;
  /** Requests received, counted on arrival (before any behaviour runs). */
  readonly hits: number;
  readonly calls: readonly ReceivedCall[];
  /** Responses the client cut off before they were complete (e.g. an oversized body it refused). */
  readonly abortedResponses: number;
  /** Changes behaviour for the following requests. */
  set(settings: Partial<FakeProviderSettings>): void;
  close(): Promise<void>;
}

export const FAKE_RECORD = { householdNumber: 'HH-110105-000123', name: '张测试', relation: 'self' } as const;
/** Text the status500 behaviour puts in its body; tests assert it never reaches an error message. */
export const UPSTREAM_SECRET = 'upstream-stack-trace-do-not-leak';

export interface TestSigner {
  issuer: string;
  /** What the gateway's `/.well-known/jwks.json` would serve. */
  jwks: JSONWebKeySet;
  /**
   * Signs a gateway token the way the gateway does: EdDSA, `aud` = provider department.
   * `claims` bends it for negative tests (another issuer, an expiry in the past).
   */
  signToken(audience: string, claims?: { issuer?: string; expiresAt?: number }): Promise<string>;
}

/** A throwaway gateway key, so provider tests can check a real EdDSA signature. */
export async function createTestSigner(issuer = 'https://onetrip.test'): Promise<TestSigner> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const kid = 'test-gateway-key';
  const jwks: JSONWebKeySet = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' }] };
  return {
    issuer,
    jwks,
    signToken: (audience, claims = {}) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
        .setIssuer(claims.issuer ?? issuer)
        .setAudience(audience)
        .setSubject('onetrip-gateway')
        .setIssuedAt()
        .setExpirationTime(claims.expiresAt ?? '60s')
        .sign(privateKey),
  };
}

/** A real HTTP department on 127.0.0.1 and an ephemeral port (STYLE.md rule 8: only departments are faked). */
export async function startFakeProvider(initial: Partial<FakeProviderSettings> = {}): Promise<FakeProvider> {
  let settings: FakeProviderSettings = {
    behaviour: 'ok',
    delayMs: 0,
    record: { ...FAKE_RECORD },
    redirectTo: 'http://127.0.0.1:9/elsewhere',
    badEnvelopeBody: JSON.stringify({ found: 'yes', data: [] }),
    ...initial,
  };
  let hits = 0;
  let abortedResponses = 0;
  const calls: ReceivedCall[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer((req, res) => {
    hits += 1;
    const current = settings;
    res.on('close', () => {
      if (!res.writableFinished) abortedResponses += 1;
    });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      calls.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: parseOrText(text) });
      if (current.behaviour === 'hang') return;
      const timer = setTimeout(() => {
        timers.delete(timer);
        respond(res, current);
      }, current.delayMs);
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    get hits() {
      return hits;
    },
    get calls() {
      return calls;
    },
    get abortedResponses() {
      return abortedResponses;
    },
    set(next) {
      settings = { ...settings, ...next };
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      if (!server.listening) return Promise.resolve(); // closing twice is fine (tests close early)
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

function respond(res: ServerResponse, settings: FakeProviderSettings): void {
  if (res.destroyed) return;
  switch (settings.behaviour) {
    case 'ok':
      return json(res, 200, JSON.stringify({ found: true, record: settings.record }));
    case 'notFound':
      return json(res, 200, JSON.stringify({ found: false }));
    case 'status500':
      return json(res, 500, JSON.stringify({ error: UPSTREAM_SECRET }));
    case 'redirect':
      res.writeHead(302, { location: settings.redirectTo, 'content-length': 0 });
      res.end();
      return;
    case 'badEnvelope':
      return json(res, 200, settings.badEnvelopeBody);
    case 'oversized':
      return streamForever(res);
    case 'stallBody':
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1000 });
      res.write('{"found": true, "record": {');
      return;
    case 'hang':
      return;
  }
}

function json(res: ServerResponse, status: number, payload: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

/** Chunked and endless: a client that buffers instead of cutting off would never finish. */
function streamForever(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  const filler = Buffer.alloc(64 * 1024, 'x');
  res.write('{"found": true, "record": {"blob": "');
  const pump = (): void => {
    while (!res.destroyed && res.write(filler)) {
      // keep writing until the socket pushes back
    }
    if (!res.destroyed) res.once('drain', pump);
  };
  pump();
}

function parseOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
