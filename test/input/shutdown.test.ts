/**
 * A request that arrives while the gateway is closing (pipelined behind a slow one, or on a busy
 * keep-alive connection) is answered 503 NOT_READY as problem+json with its request id — not with
 * Fastify's own JSON (issue 9). Real HTTP: the closing state only exists on a listening server.
 */
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startTestGateway } from '../helpers/app.js';
import { register, testType, TEST_RECORD, sleep } from '../lookups/consumer.js';
import { personHolding } from '../audit/support.js';

describe('requests during graceful shutdown', () => {
  it('answers 503 NOT_READY problem+json with x-request-id, never echoing the path', async () => {
    const gw = await startTestGateway('pglite', {
      beforeRoutes: (app) => {
        app.adapters.registerBuiltin('slow-department', async () => {
          await sleep(400);
          return { found: true, record: { ...TEST_RECORD } };
        });
      },
    });
    let closed = false;
    try {
      await register(gw, { types: [testType('slow-register', { kind: 'builtin', name: 'slow-department' })] });
      const token = await gw.token('housing-fund-window');
      await gw.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = gw.app.server.address() as AddressInfo;
      const body = JSON.stringify({
        type: 'slow-register',
        subject: { kind: 'person', id: personHolding(gw, 'household-registration') },
        purpose: 'housing-fund-withdrawal',
        caseId: 'HF-SHUT-1',
      });
      const slow = `POST /v1/lookups HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      const late = 'GET /v1/admin/departments/110101199003077777 HTTP/1.1\r\nhost: x\r\nx-request-id: late-1\r\n\r\n';
      const socket = connect(port, '127.0.0.1');
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString('utf8')));
      socket.write(slow);
      await sleep(150);
      // close() begins while the slow lookup is in flight; the next request on its connection arrives after.
      const closing = gw.close().then(() => (closed = true));
      await sleep(50);
      socket.write(late);
      for (let waited = 0; (received.match(/HTTP\/1\.1 /g)?.length ?? 0) < 2 && waited < 5000; waited += 50) await sleep(50);
      socket.destroy();
      await closing;

      const responses = received.split(/(?=HTTP\/1\.1 )/);
      expect(responses).toHaveLength(2);
      expect(responses[0]).toMatch(/^HTTP\/1\.1 200 /);
      const [head, payload] = responses[1]!.split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 503 /);
      expect(head).toMatch(/content-type: application\/problem\+json/i);
      expect(head).toMatch(/x-request-id: late-1/i);
      expect(JSON.parse(payload!)).toMatchObject({ code: 'NOT_READY', status: 503, requestId: 'late-1' });
      expect(payload).not.toContain('110101199003077777');
    } finally {
      if (!closed) await gw.close().catch(() => undefined);
    }
  });
});
