import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

describe('configuration from the environment', () => {
  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['Yes', true],
    ['false', false],
    ['0', false],
    ['no', false],
    ['NO', false],
  ])('reads the boolean DEMO=%s as %s', (value, expected) => {
    expect(loadConfig({ DEMO: value, DATABASE_URL: 'postgres://db/x' }).demo).toBe(expected);
    expect(loadConfig({ DEMO: value }).demo).toBe(expected);
  });

  it('refuses a boolean it cannot read, and keeps the defaults when unset', () => {
    expect(() => loadConfig({ DEMO: 'maybe' })).toThrow(/DEMO/);
    expect(loadConfig({}).demo).toBe(true);
    expect(loadConfig({ DATABASE_URL: 'postgres://db/x' }).demo).toBe(false);
  });

  it('reads TRUST_PROXY as addresses, CIDRs and proxy-addr range names, and refuses anything else', () => {
    expect(loadConfig({}).trustProxy).toEqual([]);
    expect(loadConfig({ TRUST_PROXY: ' 10.0.0.0/8, 192.0.2.1 ,::1,fd00::/8, loopback' }).trustProxy).toEqual([
      '10.0.0.0/8',
      '192.0.2.1',
      '::1',
      'fd00::/8',
      'loopback',
    ]);
    for (const bad of ['proxy.example', '10.0.0.0/33', '10.0.0.1/8/1', '*']) {
      expect(() => loadConfig({ TRUST_PROXY: bad }), bad).toThrow(/TRUST_PROXY/);
    }
  });

  it('defaults UNAUTH_RATE_LIMIT_PER_MINUTE to 120 and PUBLIC_URL to http://HOST:PORT (also when empty)', () => {
    const config = loadConfig({ PORT: '3456' });
    expect(config.unauthRateLimitPerMinute).toBe(120);
    expect(config.publicUrl).toBe('http://127.0.0.1:3456');
    expect(config.publicUrlConfigured).toBe(false);
    expect(loadConfig({ PUBLIC_URL: '' }).publicUrlConfigured).toBe(false);
    expect(loadConfig({ PUBLIC_URL: 'https://gw.example/' })).toMatchObject({ publicUrl: 'https://gw.example', publicUrlConfigured: true });
  });
});
