import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { REDACT_PATHS, requestLogger } from '../../src/logging.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const logger = pino({ level: 'info', timestamp: false, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, stream);
  return { logger, lines };
}

describe('request loggers (childLoggerFactory)', () => {
  it('write what pino child loggers write, and still redact what is logged through them', () => {
    const ours = capture();
    const pinos = capture();
    const logged = (log: pino.Logger) => {
      log.info({ method: 'POST', url: '/v1/lookups', statusCode: 200 }, 'request completed');
      log.warn({ token: 'eyJ.secret', subject: { kind: 'person', id: '110105199001011234' }, authorization: 'Bearer x' }, 'refused');
      log.child({ step: 'nested' }).error({ client_secret: 's3cret' }, 'nested');
    };
    logged(requestLogger(ours.logger, { reqId: 'req-1:a.b_c' }, {}) as pino.Logger);
    logged(pinos.logger.child({ reqId: 'req-1:a.b_c' }));
    expect(ours.lines).toEqual(pinos.lines);
    expect(ours.lines).toHaveLength(3);
    expect(ours.lines.join('')).not.toMatch(/eyJ\.secret|110105199001011234|Bearer x|s3cret/);
    expect(JSON.parse(ours.lines[0]!)).toMatchObject({ reqId: 'req-1:a.b_c', msg: 'request completed' });
  });

  it('takes pino own way for route options such as a level', () => {
    const { logger, lines } = capture();
    const child = requestLogger(logger, { reqId: 'r2' }, { level: 'warn' }) as pino.Logger;
    child.info('hidden');
    child.warn('shown');
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['shown']);
  });
});

describe('the gateway log destination', () => {
  it('loses no line when the process ends right after logging (buffered lines are flushed on exit)', async () => {
    const { execFile } = await import('node:child_process');
    const script = `
      import pino from 'pino';
      import { logDestination } from './src/logging.ts';
      const out = logDestination();
      const log = pino({}, out.stream);
      for (let i = 0; i < 1000; i++) log.info({ i }, 'line');
      if (process.argv[2] === 'close') out.flush();
      process.exit(0);`;
    for (const mode of ['exit', 'close']) {
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(
          process.execPath,
          ['--import', 'tsx', '--input-type=module', '-e', script, mode],
          { cwd: process.cwd(), maxBuffer: 1 << 24 },
          (err, out) => (err ? reject(err) : resolve(out)),
        ),
      );
      const lines = stdout.trim().split('\n');
      expect(lines).toHaveLength(1000);
      expect(JSON.parse(lines[999]!)).toMatchObject({ i: 999 });
    }
  }, 30_000);
});
