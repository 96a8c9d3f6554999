import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { startProviderServer, type ProviderServer } from '../adapters/provider-server.js';
import type { ProviderAnswer, ProviderRequest } from '../adapters/types.js';
import { minimiseRecord } from '../policy/minimise.js';
import { DEMO_DEPARTMENTS, DEMO_TYPES, createDemoDataset, type DemoDataset } from './data.js';

/** First port of the fixed layout `npm run demo:providers` uses: one department per port, in DEMO_DEPARTMENTS order. */
export const DEMO_PROVIDER_BASE_PORT = 4101;

export interface DemoProvidersOptions {
  /** The gateway's token issuer (its PUBLIC_URL). */
  issuer: string;
  /** The gateway's `/.well-known/jwks.json` (another process), or… */
  jwksUrl?: string;
  /** …its keys directly (in-process), read per request so a key rotation is followed. */
  jwks?: (() => Promise<JSONWebKeySet>) | JWTVerifyGetKey;
  /** Default 127.0.0.1. */
  host?: string;
  /** Department i listens on basePort + i; default: ephemeral ports. */
  basePort?: number;
  dataset?: DemoDataset;
}

export interface DemoProviders {
  /** Department code → base URL of its provider server. */
  urls: Map<string, string>;
  close(): Promise<void>;
}

/** The port a demo department gets in the fixed layout (and in `startDemoProviders` with `basePort`). */
export function demoProviderPort(department: string, basePort = DEMO_PROVIDER_BASE_PORT): number {
  const index = DEMO_DEPARTMENTS.findIndex((d) => d.code === department);
  if (index < 0) throw new Error(`${department} is not a demo department`);
  return basePort + index;
}

/**
 * Each demo department as a real provider-protocol server: it verifies the gateway's token
 * (aud = its own code) and, like the builtin demo providers, answers only the fields asked for.
 * A department answers only for the types it is the source of.
 */
export function demoProviderAnswer(department: string, dataset: DemoDataset): (request: ProviderRequest) => ProviderAnswer {
  const kinds = new Map(DEMO_TYPES.filter((t) => t.provider === department).map((t) => [t.type, t.kind]));
  return (request) => {
    const kind = kinds.get(request.type);
    const record = kind === undefined ? undefined : dataset.record(request.type, request.subject.id);
    return kind && record ? { found: true, record: minimiseRecord(kind, record, request.fields) } : { found: false };
  };
}

export async function startDemoProviders(options: DemoProvidersOptions): Promise<DemoProviders> {
  const dataset = options.dataset ?? createDemoDataset();
  const servers: ProviderServer[] = [];
  const urls = new Map<string, string>();
  const close = async () => {
    await Promise.allSettled(servers.map((s) => s.close()));
  };
  try {
    for (const [index, department] of DEMO_DEPARTMENTS.entries()) {
      const server = await startProviderServer({
        department: department.code,
        issuer: options.issuer,
        ...(options.jwksUrl !== undefined ? { jwksUrl: options.jwksUrl } : {}),
        ...(options.jwks !== undefined ? { jwks: options.jwks } : {}),
        answer: demoProviderAnswer(department.code, dataset),
        host: options.host ?? '127.0.0.1',
        port: options.basePort === undefined ? 0 : options.basePort + index,
      });
      servers.push(server);
      urls.set(department.code, server.url);
    }
  } catch (err) {
    // A port already taken must not leave the departments started before it listening.
    await close();
    throw err;
  }
  return { urls, close };
}
