import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainEvents, GENESIS_HASH } from '../../src/audit/chain.js';
import type { AuditEvent, AuditEventInput } from '../../src/audit/event.js';
import { ndjsonLine } from '../../src/audit/export.js';
import { runCli } from '../../src/cli.js';
import { testConfig } from '../helpers/app.js';
import { lookupEventInput } from './support.js';

const run = promisify(execFile);

function inputAt(i: number): AuditEventInput {
  return lookupEventInput(
    { requestId: `req-${i}`, caseId: `HF-${i}` },
    'b'.repeat(64),
    { now: new Date(Date.UTC(2026, 0, 1, 0, 0, i)), latencyMs: i },
    {
      fields: ['name'],
      detail: i === 2 ? { note: 'x' } : null,
    },
  );
}

describe('offline verification of NDJSON files', () => {
  let dir: string;
  let events: AuditEvent[];
  const file = (name: string) => path.join(dir, name);
  const write = (name: string, lines: string[]) => writeFile(file(name), lines.join(''));
  const cli = async (args: string[]) => {
    const out: string[] = [];
    const code = await runCli(['audit', 'verify', ...args], { config: testConfig(), out: (l) => out.push(l) });
    return { code, output: out.join('\n') };
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'onetrip-offline-'));
    events = chainEvents(
      { seq: 0, hash: GENESIS_HASH },
      Array.from({ length: 6 }, (_v, i) => inputAt(i + 1)),
    );
    await write('full.ndjson', events.map(ndjsonLine));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('exits 0 for an intact file and 1 naming the first broken seq, as a real process', async () => {
    const tsx = path.resolve('node_modules/.bin/tsx');
    const ok = await run(tsx, ['src/cli.ts', 'audit', 'verify', '--file', file('full.ndjson')]);
    expect(ok.stdout).toContain('OK: 6 events (seq 1..6) verified from genesis');
    const edited = events.map((e) => (e.seq === 4 ? ndjsonLine({ ...e, caseId: 'HF-forged' }) : ndjsonLine(e)));
    await write('edited.ndjson', edited);
    const broken = await run(tsx, ['src/cli.ts', 'audit', 'verify', '--file', file('edited.ndjson')]).catch(
      (err: { code: number; stdout: string }) => err,
    );
    expect(broken).toMatchObject({
      code: 1,
      stdout: expect.stringContaining('first broken seq 4 (line 4): content does not match its hash'),
    });
  }, 60_000);

  it('names an unreadable line, and a last line cut short', async () => {
    await write('garbage.ndjson', [ndjsonLine(events[0]!), ndjsonLine(events[1]!), 'not json\n', ...events.slice(3).map(ndjsonLine)]);
    expect(await cli(['--file', file('garbage.ndjson')])).toMatchObject({
      code: 1,
      output: expect.stringContaining('first broken seq 3 (line 3): line 3 is not a JSON audit event'),
    });
    const cut = ndjsonLine(events[5]!).slice(0, 40);
    await write('cut.ndjson', [...events.slice(0, 5).map(ndjsonLine), cut]);
    expect(await cli(['--file', file('cut.ndjson')])).toMatchObject({
      code: 1,
      output: expect.stringContaining('first broken seq 6 (line 6)'),
    });
  });

  it('refuses a member added to or removed from an event', async () => {
    const lines = events.map(ndjsonLine);
    lines[1] = JSON.stringify({ ...events[1], note: 'added' }) + '\n';
    await write('added.ndjson', lines);
    expect(await cli(['--file', file('added.ndjson')])).toMatchObject({ code: 1, output: expect.stringContaining('first broken seq 2 ') });
    const { officer: _o, ...withoutOfficer } = events[2]!;
    lines[1] = ndjsonLine(events[1]!);
    lines[2] = JSON.stringify(withoutOfficer) + '\n';
    await write('removed.ndjson', lines);
    expect(await cli(['--file', file('removed.ndjson')])).toMatchObject({
      code: 1,
      output: expect.stringContaining('first broken seq 3 '),
    });
  });

  it('checks a file that starts mid-chain from its first prevHash, or from a given anchor', async () => {
    await write('tail.ndjson', events.slice(2).map(ndjsonLine));
    expect(await cli(['--file', file('tail.ndjson')])).toMatchObject({
      code: 0,
      output: expect.stringContaining("verified from seq 2 (the first event's prevHash"),
    });
    expect(await cli(['--file', file('tail.ndjson'), '--anchor', `2:${events[1]!.hash}`])).toMatchObject({
      code: 0,
      output: expect.stringContaining('given anchor'),
    });
    expect(await cli(['--file', file('tail.ndjson'), '--anchor', `2:${events[0]!.hash}`])).toMatchObject({
      code: 1,
      output: expect.stringContaining('first broken seq 3 '),
    });
    await expect(cli(['--file', file('tail.ndjson'), '--anchor', 'two'])).rejects.toThrow(/--anchor must be/);
  });

  it('finds events cut off the end when given the head, and verifies files in order as one chain', async () => {
    await write('head.ndjson', events.slice(0, 3).map(ndjsonLine));
    await write('rest.ndjson', events.slice(3, 5).map(ndjsonLine));
    const head = `6:${events[5]!.hash}`;
    expect(await cli(['--file', file('head.ndjson'), '--file', file('rest.ndjson')])).toMatchObject({ code: 0 });
    expect(await cli(['--file', file('head.ndjson'), '--file', file('rest.ndjson'), '--head', head])).toMatchObject({
      code: 1,
      output: 'BROKEN: the file ends at seq 5 but the head says 6: event 6 is missing at the end; 5 events read',
    });
    // Out of order: the first file starts the (unanchored) chain at seq 4; seq 1 cannot follow seq 5.
    expect(await cli(['--file', file('rest.ndjson'), '--file', file('head.ndjson')])).toMatchObject({
      code: 1,
      output: expect.stringContaining(`first broken seq 1 (${file('head.ndjson')} line 1)`),
    });
  });

  it('checks a .sha256 sidecar when there is one', async () => {
    await write('archive.ndjson', events.map(ndjsonLine));
    await writeFile(file('archive.ndjson.sha256'), `${'0'.repeat(64)}  archive.ndjson\n`);
    expect(await cli(['--file', file('archive.ndjson')])).toMatchObject({
      code: 1,
      output: expect.stringContaining('does not match its .sha256 sidecar'),
    });
  });
});
