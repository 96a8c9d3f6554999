import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify } from 'jose';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { problem, problemBody } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { toProviderAnswer } from './protocol.js';
import type { ProviderAnswer, ProviderRequest } from './types.js';

export interface ProviderServerOptions {
  /** This department's code: the `aud` the gateway's token must carry. */
  department: string;
  /** The gateway's `/.well-known/jwks.json`; fetched and cached by jose. */
  jwksUrl?: string;
  /** Instead of `jwksUrl`: a JWKS source (called per request, so it can follow key rotation) or a jose key resolver. */
  jwks?: (() => Promise<JSONWebKeySet>) | JWTVerifyGetKey;
  /** The gateway's token issuer (its PUBLIC_URL). */
  issuer: string;
  answer(request: ProviderRequest): Promise<ProviderAnswer> | ProviderAnswer;
  /** Default 0: an ephemeral port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

export interface ProviderServer {
  /** Base URL, e.g. `http://127.0.0.1:40123`; `POST <url>/` and `POST <url>/lookup` both answer. */
  url: string;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 64 * 1024;
const PATHS: ReadonlySet<string> = new Set(['/', '/lookup']);

/**
 * A provider-protocol server (openapi/provider.yaml) for demo departments and tests: it verifies
 * the gateway's EdDSA token (audience = this department, issuer pinned) and answers
 * `{found: true, record}` or `{found: false}`. Plain node:http so that it has nothing of the gateway in it.
 */
export async function startProviderServer(options: ProviderServerOptions): Promise<ProviderServer> {
  const getKey = keyResolver(options);
  const server = createServer((req, res) => {
    handle(req, res, options, getKey).catch((err: unknown) => {
      // handle() answers every expected failure itself; this is a bug in the provider's answer().
      if (!res.headersSent) sendProblem(res, requestIdOf(req), 'INTERNAL_ERROR', 'the provider could not answer');
      else res.destroy(err instanceof Error ? err : undefined);
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive sockets from the gateway's pool would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, options: ProviderServerOptions, getKey: JWTVerifyGetKey): Promise<void> {
  const requestId = requestIdOf(req);
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (req.method !== 'POST' || !PATHS.has(path)) {
    return sendProblem(res, requestId, 'NOT_FOUND', 'the provider protocol is served at POST / and POST /lookup');
  }
  // Authenticate before reading the body: an anonymous caller learns nothing and costs little.
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(req.headers.authorization ?? '');
  if (match?.[1] === undefined) {
    res.setHeader('www-authenticate', 'Bearer');
    return sendProblem(res, requestId, 'UNAUTHENTICATED', 'a Bearer token signed by the gateway is required');
  }
  try {
    await jwtVerify(match[1], getKey, { algorithms: ['EdDSA'], audience: options.department, issuer: options.issuer });
  } catch {
    res.setHeader('www-authenticate', 'Bearer error="invalid_token"');
    return sendProblem(res, requestId, 'UNAUTHENTICATED', `the token is not a valid gateway token for ${options.department}`);
  }
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (contentType !== 'application/json') {
    return sendProblem(res, requestId, 'VALIDATION_FAILED', 'the body must be application/json');
  }
  const text = await readBody(req);
  if (text === undefined) return sendProblem(res, requestId, 'VALIDATION_FAILED', `the body exceeds ${MAX_BODY_BYTES} bytes`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return sendProblem(res, requestId, 'VALIDATION_FAILED', 'the body is not valid JSON');
  }
  if (!isProviderRequest(body)) {
    return sendProblem(
      res,
      requestId,
      'VALIDATION_FAILED',
      'the body is not a ProviderRequest {type, subject: {kind, id}, fields, purpose, caseId, requestId}',
    );
  }
  const answer = toProviderAnswer(await options.answer(body));
  if (answer === undefined) throw new Error('answer() returned something other than {found: true, record} or {found: false}');
  const payload = JSON.stringify(answer);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'x-request-id': requestId });
  res.end(payload);
}

function keyResolver(options: ProviderServerOptions): JWTVerifyGetKey {
  if (options.jwksUrl !== undefined) return createRemoteJWKSet(new URL(options.jwksUrl));
  const source = options.jwks;
  if (source === undefined) throw new Error('startProviderServer needs jwksUrl or jwks');
  // Both forms are functions; a JWKS source returns `{keys}`, a resolver returns a key.
  return async (header, token) => {
    const result: unknown = await (source as JWTVerifyGetKey)(header, token);
    if (isKeySet(result)) return createLocalJWKSet(result)(header, token);
    return result as Awaited<ReturnType<JWTVerifyGetKey>>;
  };
}

function isKeySet(value: unknown): value is JSONWebKeySet {
  return typeof value === 'object' && value !== null && Array.isArray((value as { keys?: unknown }).keys);
}

/** The body as text, or undefined when it is too large. */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  // An oversized body is drained, not buffered: breaking off would destroy the socket before our 400 goes out.
  // Only an authenticated gateway gets this far.
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size <= MAX_BODY_BYTES) chunks.push(buffer);
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks, size).toString('utf8');
}

function isProviderRequest(value: unknown): value is ProviderRequest {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const subject = v.subject as Record<string, unknown> | null | undefined;
  return (
    typeof v.type === 'string' &&
    typeof subject === 'object' &&
    subject !== null &&
    (subject.kind === 'person' || subject.kind === 'enterprise') &&
    typeof subject.id === 'string' &&
    Array.isArray(v.fields) &&
    v.fields.every((f) => typeof f === 'string') &&
    typeof v.purpose === 'string' &&
    typeof v.caseId === 'string' &&
    typeof v.requestId === 'string'
  );
}

function requestIdOf(req: IncomingMessage): string {
  const header = req.headers['x-request-id'];
  return typeof header === 'string' && /^[\w.:-]{1,128}$/.test(header) ? header : '';
}

function sendProblem(res: ServerResponse, requestId: string, code: ErrorCode, detail: string): void {
  const body = problemBody(problem(code, detail), requestId);
  const payload = JSON.stringify(body);
  res.writeHead(body.status, {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(payload),
    'x-request-id': requestId,
  });
  res.end(payload);
}
