import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DemoSubject } from '../../src/demo/data.js';
import type { DemoCredential } from '../../src/demo/seed.js';

/**
 * The gateway as a real process (`src/server.ts`, as `npm start` runs it) on a real port: the fault
 * suite must see the process exit if it does, which an in-process app would hide or take down
 * the test runner with.
 */
export interface ChildGateway {
  url: string;
  port: number;
  dataDir: string;
  credentials: DemoCredential[];
  subjects: DemoSubject[];
  /** Null while the process runs; its exit code and signal once it has exited. */
  readonly exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines the process wrote (for failure messages). */
  output(): string;
  token(clientId: string): Promise<string>;
  signal(sig: NodeJS.Signals): void;
  /** Stops the process (SIGTERM, then SIGKILL) and removes its data directory unless kept. */
  stop(options?: { keepDataDir?: boolean }): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startChildGateway(
  env: Record<string, string>,
  options: { dataDir?: string; port?: number; readyMs?: number } = {},
): Promise<ChildGateway> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'onetrip-child-')));
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: path.resolve(import.meta.dirname, '../..'),
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      PUBLIC_URL: url,
      LOG_LEVEL: 'warn',
      DEMO: 'true',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exit: ChildGateway['exit'] = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
  });

  const deadline = Date.now() + (options.readyMs ?? 45_000);
  for (;;) {
    if (exit) throw new Error(`gateway exited while starting (${JSON.stringify(exit)}):\n${tail}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gateway not ready after ${options.readyMs ?? 45_000} ms:\n${tail}`);
    }
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    // The demo files are written after seeding, just before listening: ready means seeded.
    if (ready) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const credentials = JSON.parse(await readFile(path.join(dataDir, 'demo-credentials.json'), 'utf8')) as DemoCredential[];
  const subjects = JSON.parse(await readFile(path.join(dataDir, 'demo-subjects.json'), 'utf8')) as DemoSubject[];

  return {
    url,
    port,
    dataDir,
    credentials,
    subjects,
    get exit() {
      return exit;
    },
    exited,
    output: () => tail,
    async token(clientId) {
      const c = credentials.find((x) => x.clientId === clientId);
      if (!c) throw new Error(`no demo client ${clientId}`);
      const res = await fetch(`${url}/v1/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret }),
      });
      if (res.status !== 200) throw new Error(`token for ${clientId}: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { access_token: string }).access_token;
    },
    signal(sig) {
      child.kill(sig);
    },
    async stop(stopOptions = {}) {
      if (!exit) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      if (!stopOptions.keepDataDir && !options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
