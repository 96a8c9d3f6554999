import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { DEMO_SHOWCASE_PERSON_INDEX } from './demo/data.js';
import { registerDemoProviders, seedDemo, type DemoCredential } from './demo/seed.js';

/** The process edge: read config, build the app, seed the demo if asked, listen, close gracefully. */
async function main() {
  const config = loadConfig();
  const app = await buildApp(config, {
    beforeRoutes: async (instance) => {
      if (config.demo) registerDemoProviders(instance);
    },
  });

  closeWithGrace({ delay: 10_000 }, async ({ err, signal }) => {
    if (err) app.log.error({ err }, 'closing after an error');
    else app.log.info({ signal }, 'closing: flushing audit events');
    await app.close();
  });

  if (config.demo) await seedAndWriteDemoFiles(app, config.dataDir);
  await app.listen({ port: config.port, host: config.host });
}

async function seedAndWriteDemoFiles(app: Awaited<ReturnType<typeof buildApp>>, dataDir: string) {
  await mkdir(dataDir, { recursive: true });
  const credentialsFile = path.join(dataDir, 'demo-credentials.json');
  const known = new Map<string, string>();
  try {
    for (const c of JSON.parse(await readFile(credentialsFile, 'utf8')) as DemoCredential[]) known.set(c.clientId, c.clientSecret);
  } catch {
    // First start, or the file was removed: fresh secrets are issued below.
  }
  const { credentials, subjects } = await seedDemo(app, { knownSecrets: known });
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
`);
}

main().catch((err) => {
  console.error('onetrip failed to start:', err instanceof Error ? err.message : err, (err as { cause?: unknown })?.cause ?? '');
  process.exit(1);
});
