import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  checkAdapterUrl,
  createGuardedLookup,
  DEFAULT_ALLOWED_PORTS,
  isAddressAllowed,
  parseAllowedHosts,
  parseAllowedPorts,
} from '../../src/adapters/allowed-hosts.js';
import { loadConfig } from '../../src/config.js';

// Host rules with every port open; ADAPTER_ALLOWED_PORTS has its own tests below.
const rules = parseAllowedHosts('127.0.0.1, localhost,10.0.0.0/8,provider.gov.example., 2001:db8::/32, [::1]', '1-65535');

describe('parseAllowedHosts', () => {
  it('reads hostnames, IPs and CIDRs of both families, ignoring blanks', () => {
    expect([...rules.hostnames].sort()).toEqual(['localhost', 'provider.gov.example']);
    expect(rules.addresses.check('127.0.0.1', 'ipv4')).toBe(true);
    expect(rules.addresses.check('10.200.3.4', 'ipv4')).toBe(true);
    expect(rules.addresses.check('2001:db8:1::5', 'ipv6')).toBe(true);
    expect(rules.addresses.check('::1', 'ipv6')).toBe(true);
    expect(parseAllowedHosts(' , ').entries).toEqual([]);
    expect(parseAllowedHosts(undefined).hostnames.size).toBe(0);
  });

  it.each(['10.0.0.0/33', '10.0.0.0/x', 'fe80::/129', '300.1.1.1/8', '*.gov.example', 'bad_host!', 'a..b', 'http://x.example'])(
    'refuses the unreadable entry %s',
    (entry) => {
      expect(() => parseAllowedHosts(`localhost,${entry}`)).toThrow(/ADAPTER_ALLOWED_HOSTS/);
    },
  );
});

describe('checkAdapterUrl', () => {
  it.each([
    'http://127.0.0.1:8080/lookup',
    'https://provider.gov.example/v1/provide',
    'https://PROVIDER.gov.example./x',
    'http://localhost:3001/',
    'http://10.1.2.3/',
    'http://[2001:db8::10]:8443/lookup',
    'http://[::1]:4000/',
  ])('admits %s', (url) => {
    expect(checkAdapterUrl(url, rules)).toEqual({ ok: true });
  });

  it.each([
    ['ftp://provider.gov.example/', /http: or https:/],
    ['file:///etc/passwd', /http: or https:/],
    ['http://user:pw@provider.gov.example/', /user name or password/],
    ['http://user@provider.gov.example/', /user name or password/],
    ['not a url', /not a valid/],
    ['http://evil.example/', /not in ADAPTER_ALLOWED_HOSTS/],
    ['http://provider.gov.example.evil.example/', /not in ADAPTER_ALLOWED_HOSTS/],
    ['http://11.0.0.1/', /not in ADAPTER_ALLOWED_HOSTS/],
    ['http://[2001:db9::1]/', /not in ADAPTER_ALLOWED_HOSTS/],
  ])('refuses %s', (url, reason) => {
    const result = checkAdapterUrl(url, rules);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('refuses link-local and metadata addresses even when they are listed', () => {
    const permissive = parseAllowedHosts(
      '0.0.0.0/0,::/0,169.254.169.254,100.100.100.200,fd00:ec2::254,fe80::1,metadata.google.internal,metadata',
      '1-65535',
    );
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://169.254.1.1/',
      'http://100.100.100.200/latest/meta-data/',
      'http://[fd00:ec2::254]/',
      'http://[fe80::1]/',
      'http://[::ffff:169.254.169.254]/',
      'http://0xa9fea9fe/', // 169.254.169.254 spelled in hex: the URL parser normalises it first
      'http://metadata.google.internal/computeMetadata/v1/',
      'http://metadata/',
      'http://0.0.0.0:3000/',
    ]) {
      const result = checkAdapterUrl(url, permissive);
      expect(result, url).toMatchObject({ ok: false });
    }
    expect(checkAdapterUrl('http://100.100.100.201/', permissive)).toEqual({ ok: true });
  });
});

describe('isAddressAllowed', () => {
  it('lets a listed hostname resolve anywhere except link-local and metadata', () => {
    expect(isAddressAllowed('provider.gov.example', '203.0.113.7', rules)).toBe(true);
    expect(isAddressAllowed('Provider.Gov.Example.', '2001:db8::7', rules)).toBe(true);
    expect(isAddressAllowed('provider.gov.example', '169.254.169.254', rules)).toBe(false);
    expect(isAddressAllowed('provider.gov.example', '::ffff:169.254.169.254', rules)).toBe(false);
    expect(isAddressAllowed('provider.gov.example', 'fe80::1234', rules)).toBe(false);
    expect(isAddressAllowed('provider.gov.example', '100.100.100.200', rules)).toBe(false);
    expect(isAddressAllowed('provider.gov.example', 'fd00:ec2::254', rules)).toBe(false);
  });

  it('admits an unlisted hostname only when its address is in a listed IP or CIDR', () => {
    expect(isAddressAllowed('other.example', '10.9.8.7', rules)).toBe(true);
    expect(isAddressAllowed('other.example', '192.0.2.1', rules)).toBe(false);
    expect(isAddressAllowed('10.0.0.5', '10.0.0.5', rules)).toBe(true);
    expect(isAddressAllowed('other.example', 'not-an-ip', rules)).toBe(false);
  });

  it('never admits a link-local address, whatever the list says', () => {
    const everything = parseAllowedHosts('0.0.0.0/0,::/0,any.example');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), (c, d) => {
        const ip = `169.254.${c}.${d}`;
        return !isAddressAllowed('any.example', ip, everything) && !isAddressAllowed(ip, ip, everything);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0xfe80, max: 0xfebf }), fc.integer({ min: 0, max: 0xffff }), (a, b) => {
        const ip = `${a.toString(16)}::${b.toString(16)}`;
        return !isAddressAllowed('any.example', ip, everything);
      }),
    );
  });
});

describe('createGuardedLookup', () => {
  type Answer = { err: unknown; address?: unknown; family?: number };
  const lookupWith = (addresses: Array<{ address: string; family: number }>, all: boolean): Promise<Answer> => {
    const lookup = createGuardedLookup(rules, () => Promise.resolve(addresses));
    return new Promise((resolve) => {
      lookup(
        'provider.gov.example',
        { all } as never,
        ((err: unknown, address: unknown, family?: number) => resolve({ err, address, family })) as never,
      );
    });
  };

  it('drops refused addresses and keeps the rest', async () => {
    const mixed = [
      { address: '169.254.169.254', family: 4 },
      { address: '203.0.113.9', family: 4 },
    ];
    expect(await lookupWith(mixed, false)).toEqual({ err: null, address: '203.0.113.9', family: 4 });
    expect(await lookupWith(mixed, true)).toMatchObject({ err: null, address: [{ address: '203.0.113.9', family: 4 }] });
  });

  it('fails when nothing resolved is admitted', async () => {
    const answer = await lookupWith([{ address: '169.254.169.254', family: 4 }], true);
    expect(answer.err).toMatchObject({ code: 'ONETRIP_ADDRESS_REFUSED' });
  });
});

describe('ADAPTER_ALLOWED_PORTS (issue 9)', () => {
  const local = parseAllowedHosts('127.0.0.1,localhost,provider.gov.example', DEFAULT_ALLOWED_PORTS, [3000]);

  it('defaults to 80, 443 and 4100-4199', () => {
    expect(loadConfig({}).adapterAllowedPorts).toBe('80,443,4100-4199');
    expect(parseAllowedPorts(DEFAULT_ALLOWED_PORTS)).toEqual([
      [80, 80],
      [443, 443],
      [4100, 4199],
    ]);
  });

  it.each([
    'http://127.0.0.1:6379/',
    'http://127.0.0.1:5432/',
    'http://127.0.0.1:22/',
    'http://localhost:8080/lookup',
    'https://provider.gov.example:8443/',
    'http://127.0.0.1:4200/',
    'http://127.0.0.1:4099/',
  ])('refuses %s, a port outside the list', (url) => {
    expect(checkAdapterUrl(url, local)).toEqual({ ok: false, reason: expect.stringMatching(/not in ADAPTER_ALLOWED_PORTS/) });
  });

  it('refuses port 0 and the gateway own port even when the list admits them', () => {
    const wide = parseAllowedHosts('127.0.0.1', '1-65535', [3000]);
    expect(checkAdapterUrl('http://127.0.0.1:0/', wide)).toEqual({ ok: false, reason: expect.stringMatching(/port 0/) });
    expect(checkAdapterUrl('http://127.0.0.1:3000/v1/admin/types/x', wide)).toEqual({
      ok: false,
      reason: expect.stringMatching(/own port/),
    });
    wide.ownPorts.add(41234);
    expect(checkAdapterUrl('http://127.0.0.1:41234/', wide).ok).toBe(false);
  });

  it.each(['http://127.0.0.1/', 'https://provider.gov.example/lookup', 'http://localhost:4101/lookup', 'http://127.0.0.1:4199/'])(
    'admits %s',
    (url) => {
      expect(checkAdapterUrl(url, local)).toEqual({ ok: true });
    },
  );

  it.each(['0', '65536', '10-5', 'http', '80;443', '1-2-3', '-1'])('refuses the entry %s at start', (entry) => {
    expect(() => parseAllowedPorts(`80,${entry}`)).toThrow(/ADAPTER_ALLOWED_PORTS/);
  });
});
