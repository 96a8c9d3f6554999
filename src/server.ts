import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import closeWithGrace from 'close-with-grace';
import type { JSONWebKeySet } from 'jose';
import { checkAdapterUrl } from './adapters/allowed-hosts.js';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { isDatabaseUnavailable } from './db/unavailable.js';
import { DEMO_DEPARTMENTS, DEMO_SHOWCASE_PERSON_INDEX } from './demo/data.js';
import { demoProviderPort, startDemoProviders } from './demo/providers.js';
import { registerDemoProviders, seedDemo, type DemoCredential } from './demo/seed.js';
import type { AdapterConfig } from './registry/model.js';

/** The process edge: read config, build the app, seed the demo if asked, listen, close gracefully. */
async function main() {
  const config = loadConfig();
  const httpDemo = config.demo && config.demoProviders === 'http';
  const app = await buildApp(config, {
    beforeRoutes: async (instance) => {
      if (config.demo && !httpDemo) registerDemoProviders(instance);
    },
  });
  // DEMO_PROVIDERS=http: the demo departments run as real provider servers in this process and
  // are reached over the http adapter, tokens and all, exactly as real departments would be.
  // With DEMO_PROVIDERS_URL they run elsewhere (docker-compose), at the fixed ports of `npm run demo:providers`.
  const demoProviders = !httpDemo
    ? null
    : config.demoProvidersUrl
      ? externalDemoProviders(config.demoProvidersUrl)
      : await startDemoProviders({ issuer: app.issuer, jwks: async () => app.keyring.jwks() as JSONWebKeySet });

  // A lost database connection that surfaces as a rejected promise nobody awaited is logged and the
  // gateway keeps serving (a failover must not take every replica down, issue 10); any other
  // unhandled rejection is rethrown and closes the process gracefully, as an uncaught exception does.
  process.on('unhandledRejection', (reason) => {
    if (!isDatabaseUnavailable(reason)) throw reason;
    app.log.error({ err: reason }, 'unhandled database connection error; still serving');
  });
  closeWithGrace({ delay: 10_000, skip: ['unhandledRejection'] }, async ({ err, signal }) => {
    if (err) app.log.error({ err }, 'closing after an error');
    else app.log.info({ signal }, 'closing: flushing audit events');
    await app.close();
    await demoProviders?.close();
  });

  if (config.demo) await seedAndWriteDemoFiles(app, config.dataDir, demoProviders && httpAdapters(app, demoProviders.urls));
  await app.listen({ port: config.port, host: config.host });
}

function externalDemoProviders(baseUrl: string): { urls: Map<string, string>; close(): Promise<void> } {
  const urls = new Map(DEMO_DEPARTMENTS.map((d) => [d.code, `${baseUrl}:${demoProviderPort(d.code)}`]));
  return { urls, close: async () => undefined };
}

/** Adapters to the demo provider servers; warns when ADAPTER_ALLOWED_HOSTS would refuse them. */
function httpAdapters(app: Awaited<ReturnType<typeof buildApp>>, urls: Map<string, string>): (provider: string) => AdapterConfig {
  for (const url of new Set(urls.values())) {
    const check = checkAdapterUrl(url, app.adapters.allowedHosts);
    if (!check.ok) app.log.warn({ url, reason: check.reason }, 'demo provider unreachable under ADAPTER_ALLOWED_HOSTS');
  }
  return (provider) => {
    const url = urls.get(provider);
    if (!url) throw new Error(`no demo provider server for ${provider}`);
    return { kind: 'http', url: `${url}/lookup`, timeoutMs: 3000 };
  };
}

async function seedAndWriteDemoFiles(
  app: Awaited<ReturnType<typeof buildApp>>,
  dataDir: string,
  adapterFor: ((provider: string) => AdapterConfig) | null,
) {
  await mkdir(dataDir, { recursive: true });
  const credentialsFile = path.join(dataDir, 'demo-credentials.json');
  const known = new Map<string, string>();
  try {
    for (const c of JSON.parse(await readFile(credentialsFile, 'utf8')) as DemoCredential[]) known.set(c.clientId, c.clientSecret);
  } catch {
    // First start, or the file was removed: fresh secrets are issued below.
  }
  const { credentials, subjects } = await seedDemo(app, { knownSecrets: known, ...(adapterFor ? { adapterFor } : {}) });
  await writeFile(credentialsFile, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 });
  await writeFile(path.join(dataDir, 'demo-subjects.json'), JSON.stringify(subjects, null, 2) + '\n');

  const window = credentials.find((c) => c.clientId === 'housing-fund-window');
  const person = subjects.filter((s) => s.kind === 'person')[DEMO_SHOWCASE_PERSON_INDEX];
  if (!window || !person) return;
  const base = app.config.publicUrl;
  // Printed for the operator on the terminal, not logged: it holds a demo secret and a demo id.
  console.log(`
onetrip demo is seeded. Credentials: ${credentialsFile}; demo people and enterprises: ${path.join(dataDir, 'demo-subjects.json')}
Try a lookup (housing provident fund window asks Public Security for a household registration):

TOKEN=$(curl -s ${base}/v1/auth/token -u '${window.clientId}:${window.clientSecret}' -d grant_type=client_credentials | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')
curl -s ${base}/v1/lookups -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
  -d '{"type":"household-registration","subject":{"kind":"person","id":"${person.id}"},"purpose":"housing-fund-withdrawal","caseId":"HF-2026-000001"}'

Then open the console at ${base}/console and sign in as audit-office (auditor) or citizen-portal (portal),
with the secret from the credentials file.
`);
}

main().catch((err) => {
  console.error('onetrip failed to start:', err instanceof Error ? err.message : err, (err as { cause?: unknown })?.cause ?? '');
  process.exit(1);
});
