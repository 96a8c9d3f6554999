import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../../src/errors.js';
import { createBuiltinAdapter } from '../../src/adapters/builtin.js';
import type { ProviderAnswer, ProviderRequest } from '../../src/adapters/types.js';

const request: ProviderRequest = {
  type: 'marriage-certificate',
  subject: { kind: 'person', id: '11010519491231002X' },
  fields: ['spouseName'],
  purpose: 'housing-subsidy',
  caseId: 'CASE-2025-000007',
  requestId: 'req-b1',
};
const context = { provider: 'civil-affairs', timeoutMs: 300 };

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const err = await promise.then(
    () => expect.fail('expected a failure'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe('createBuiltinAdapter', () => {
  it('answers in process, with a copy the caller cannot use to change the source', async () => {
    const record = { spouseName: '李测试', registeredOn: '2020-05-20' };
    const adapter = createBuiltinAdapter((r) => (r.subject.id === request.subject.id ? { found: true, record } : { found: false }));
    const answer = await adapter.call(request, context);
    expect(answer).toEqual({ found: true, record });
    if (answer.found) answer.record.spouseName = 'changed';
    expect(record.spouseName).toBe('李测试');
    expect(await adapter.call({ ...request, subject: { kind: 'person', id: 'other' } }, context)).toEqual({ found: false });
  });

  it('a slow builtin yields PROVIDER_TIMEOUT within the timeout', async () => {
    const adapter = createBuiltinAdapter(async () => {
      await sleep(2_000);
      return { found: false };
    });
    const started = performance.now();
    const err = await rejection(adapter.call(request, context));
    expect(err.code).toBe('PROVIDER_TIMEOUT');
    expect(err.message).toBe('provider civil-affairs did not answer within 300 ms');
    expect(performance.now() - started).toBeLessThan(500);
  });

  it.each<[string, () => Promise<ProviderAnswer> | ProviderAnswer]>([
    [
      'throws',
      () => {
        throw new Error('disk on fire');
      },
    ],
    ['rejects', () => Promise.reject(new Error('disk on fire'))],
  ])('a builtin that %s yields PROVIDER_ERROR with the cause kept', async (_, answer) => {
    const err = await rejection(createBuiltinAdapter(answer).call(request, context));
    expect(err.code).toBe('PROVIDER_ERROR');
    expect(err.message).not.toContain('disk on fire');
    expect((err.cause as Error).message).toBe('disk on fire');
  });

  it('an answer outside the protocol is PROVIDER_BAD_RESPONSE', async () => {
    const err = await rejection(
      createBuiltinAdapter(() => ({ found: true, record: [] }) as unknown as ProviderAnswer).call(request, context),
    );
    expect(err.code).toBe('PROVIDER_BAD_RESPONSE');
  });

  it('a cancelled call stops waiting at once', async () => {
    const adapter = createBuiltinAdapter(() => sleep(2_000).then(() => ({ found: false }) as const));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const err = await rejection(adapter.call(request, { ...context, timeoutMs: 5_000, signal: controller.signal }));
    expect(err.code).toBe('PROVIDER_ERROR');
    expect(err.message).toMatch(/cancelled/);
  });
});
