import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import type { LookupFunction } from 'node:net';

/**
 * The parsed form of `ADAPTER_ALLOWED_HOSTS`: which hosts `http` adapters may reach.
 * Build it once with `parseAllowedHosts` and pass it around; it is never changed afterwards.
 */
export interface AllowedHostRules {
  /** Lower-case hostnames without a trailing dot, e.g. `provider.gov.example`. */
  readonly hostnames: ReadonlySet<string>;
  /** Listed IP addresses and CIDR ranges, IPv4 and IPv6. */
  readonly addresses: BlockList;
  /** Addresses that are refused even when listed: link-local and cloud metadata endpoints. */
  readonly forbidden: BlockList;
  /** The entries as written, for logs and error messages. */
  readonly entries: readonly string[];
  /** `ADAPTER_ALLOWED_PORTS`: inclusive port ranges an adapter URL may name (1–65535). */
  readonly ports: ReadonlyArray<readonly [number, number]>;
  /**
   * The gateway's own ports (PORT, and the port it actually listens on): refused even when inside
   * `ports`, so an adapter can never make the gateway call itself. The adapters plugin adds the
   * listening port once the server listens; nothing else changes it.
   */
  readonly ownPorts: Set<number>;
}

/** ADAPTER_ALLOWED_PORTS when unset: web ports and the demo providers' 4100–4199. */
export const DEFAULT_ALLOWED_PORTS = '80,443,4100-4199';

/**
 * Parses `ADAPTER_ALLOWED_PORTS` (comma-separated ports and `low-high` ranges, 1–65535). Throws on
 * an entry it cannot read, like `parseAllowedHosts`.
 */
export function parseAllowedPorts(value: string): Array<readonly [number, number]> {
  const ranges: Array<readonly [number, number]> = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(entry);
    const low = m ? Number(m[1]) : NaN;
    const high = m ? Number(m[2] ?? m[1]) : NaN;
    if (!(low >= 1 && high <= 65535 && low <= high)) {
      throw new Error(`ADAPTER_ALLOWED_PORTS: "${entry}" is not a port or range within 1-65535`);
    }
    ranges.push([low, high]);
  }
  return ranges;
}

export type UrlCheck = { ok: true } | { ok: false; reason: string };

/**
 * Hostnames that name a cloud instance-metadata service. They resolve to link-local addresses
 * (which are refused anyway), but refusing the name too gives a clear reason at registration.
 */
const METADATA_HOSTNAMES: ReadonlySet<string> = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'metadata.azure.internal',
  'metadata.tencentyun.com',
  'instance-data',
  'instance-data.ec2.internal',
]);

const HOSTNAME_LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/**
 * Parses `ADAPTER_ALLOWED_HOSTS` (comma-separated hostnames, IPs and CIDRs, IPv4 and IPv6).
 * Throws on an entry it cannot read: a typo in an allow-list must stop the process at start,
 * not silently narrow (or widen) what the gateway may reach.
 */
export function parseAllowedHosts(
  value: string | undefined,
  ports: string = DEFAULT_ALLOWED_PORTS,
  ownPorts: Iterable<number> = [],
): AllowedHostRules {
  const hostnames = new Set<string>();
  const addresses = new BlockList();
  const entries: string[] = [];
  for (const raw of (value ?? '').split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    entries.push(entry);
    const slash = entry.indexOf('/');
    if (slash >= 0) {
      const address = unbracket(entry.slice(0, slash));
      const prefixText = entry.slice(slash + 1);
      const family = isIP(address);
      const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
      if (family === 0 || !(prefix >= 0 && prefix <= (family === 4 ? 32 : 128))) {
        throw new Error(`ADAPTER_ALLOWED_HOSTS: "${entry}" is not a valid CIDR range`);
      }
      addresses.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
      continue;
    }
    const address = unbracket(entry);
    const family = isIP(address);
    if (family !== 0) {
      addresses.addAddress(address, family === 4 ? 'ipv4' : 'ipv6');
      continue;
    }
    const hostname = normaliseHostname(entry);
    if (!isValidHostname(hostname)) {
      throw new Error(`ADAPTER_ALLOWED_HOSTS: "${entry}" is not a hostname, IP address or CIDR range (wildcards are not supported)`);
    }
    hostnames.add(hostname);
  }
  return Object.freeze({
    hostnames,
    addresses,
    forbidden: forbiddenAddresses(),
    entries: Object.freeze(entries),
    ports: Object.freeze(parseAllowedPorts(ports)),
    ownPorts: new Set([...ownPorts].filter((p) => p > 0)),
  });
}

/**
 * Registration-time check of an adapter URL: http(s), no userinfo, host on the list, and never a
 * link-local or metadata address even when listed. The reason is meant for the operator.
 */
export function checkAdapterUrl(url: string, rules: AllowedHostRules): UrlCheck {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: 'the adapter URL is not a valid absolute URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return { ok: false, reason: `the adapter URL must use http: or https:, not ${parsed.protocol}` };
  }
  // Credentials in a URL end up in logs and registry dumps; providers authenticate the gateway's JWT instead.
  if (parsed.username !== '' || parsed.password !== '') {
    return { ok: false, reason: 'the adapter URL must not carry a user name or password' };
  }
  const host = normaliseHostname(unbracket(parsed.hostname));
  if (host === '') return { ok: false, reason: 'the adapter URL has no host' };
  const hostCheck = checkHost(host, rules);
  return hostCheck.ok ? checkPort(parsed, rules) : hostCheck;
}

function checkHost(host: string, rules: AllowedHostRules): UrlCheck {
  const family = isIP(host);
  if (family !== 0) {
    if (isForbiddenAddress(host, rules)) {
      return { ok: false, reason: `${host} is a link-local or cloud metadata address and is never reachable` };
    }
    if (!rules.addresses.check(host, family === 4 ? 'ipv4' : 'ipv6')) {
      return { ok: false, reason: `${host} is not in ADAPTER_ALLOWED_HOSTS` };
    }
    return { ok: true };
  }
  if (METADATA_HOSTNAMES.has(host)) {
    return { ok: false, reason: `${host} is a cloud metadata hostname and is never reachable` };
  }
  if (!rules.hostnames.has(host)) {
    return { ok: false, reason: `${host} is not in ADAPTER_ALLOWED_HOSTS` };
  }
  return { ok: true };
}

/** The URL's port (or its scheme's default) must be listed, never 0 and never the gateway's own. */
function checkPort(url: URL, rules: AllowedHostRules): UrlCheck {
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  if (port === 0) return { ok: false, reason: 'port 0 is never reachable' };
  if (rules.ownPorts.has(port)) return { ok: false, reason: `port ${port} is the gateway's own port and is never reachable` };
  if (!rules.ports.some(([low, high]) => port >= low && port <= high)) {
    return { ok: false, reason: `port ${port} is not in ADAPTER_ALLOWED_PORTS` };
  }
  return { ok: true };
}

/**
 * Call-time check, after DNS resolution, of the address the gateway is about to connect to.
 * A listed hostname admits whatever it resolves to except link-local and metadata addresses
 * (a compromised or rebinding DNS answer must not reach them); a listed IP or CIDR admits the
 * address when it falls inside.
 */
export function isAddressAllowed(hostname: string, resolvedIp: string, rules: AllowedHostRules): boolean {
  const ip = unbracket(resolvedIp);
  const family = isIP(ip);
  if (family === 0) return false;
  if (isForbiddenAddress(ip, rules)) return false;
  const host = normaliseHostname(unbracket(hostname));
  if (METADATA_HOSTNAMES.has(host)) return false;
  if (rules.hostnames.has(host)) return true;
  return rules.addresses.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/** True for link-local, unspecified and cloud metadata addresses (IPv4-mapped IPv6 forms included). */
export function isForbiddenAddress(ip: string, rules: AllowedHostRules): boolean {
  const address = unbracket(ip);
  const family = isIP(address);
  if (family === 0) return true;
  return rules.forbidden.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

function forbiddenAddresses(): BlockList {
  const list = new BlockList();
  // Link-local: cloud metadata (169.254.169.254 on AWS, GCP, Azure, Huawei, …) and ECS task endpoints live here.
  list.addSubnet('169.254.0.0', 16, 'ipv4');
  list.addSubnet('fe80::', 10, 'ipv6');
  // Alibaba Cloud's metadata service sits outside link-local.
  list.addAddress('100.100.100.200', 'ipv4');
  // AWS IMDS over IPv6 (Nitro instances).
  list.addAddress('fd00:ec2::254', 'ipv6');
  // "This host": connecting to 0.0.0.0 or :: reaches the gateway itself on Linux.
  list.addSubnet('0.0.0.0', 8, 'ipv4');
  list.addAddress('::', 'ipv6');
  // The same targets through the well-known NAT64 prefix (RFC 6052).
  list.addSubnet('64:ff9b::a9fe:0', 112, 'ipv6');
  list.addAddress('64:ff9b::6464:64c8', 'ipv6');
  // BlockList matches IPv4-mapped IPv6 (::ffff:169.254.169.254) against the IPv4 rules above.
  return list;
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function normaliseHostname(host: string): string {
  const lower = host.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

function isValidHostname(host: string): boolean {
  return host.length > 0 && host.length <= 253 && host.split('.').every((label) => HOSTNAME_LABEL.test(label));
}

/** DNS resolution as the guarded lookup needs it: every address of a name. */
export type ResolveHost = (hostname: string) => Promise<LookupAddress[]>;

/** Raised from the connect-time lookup when no resolved address is admitted. */
export class AddressRefusedError extends Error {
  readonly code = 'ONETRIP_ADDRESS_REFUSED';
  constructor(hostname: string, addresses: string[]) {
    super(`${hostname} resolved to ${addresses.join(', ') || 'no address'}, none of which ADAPTER_ALLOWED_HOSTS admits`);
    this.name = 'AddressRefusedError';
  }
}

/**
 * A `lookup` for net/tls.connect (undici's `connect.lookup`) that drops every resolved address
 * `isAddressAllowed` refuses. Because it runs inside the connect, the address checked is the
 * address connected to: a DNS answer that changes between a check and the connect (rebinding)
 * cannot slip through. Literal-IP hosts skip lookup in Node, so `checkAdapterUrl` covers them.
 */
export function createGuardedLookup(
  rules: AllowedHostRules,
  resolve: ResolveHost = (name) => dnsLookup(name, { all: true }),
): LookupFunction {
  // On an error the address is never read (net destroys the socket); '' only satisfies the type.
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (found) => {
        const family = options.family === 4 || options.family === 6 ? options.family : undefined;
        const allowed = found.filter((a) => isAddressAllowed(hostname, a.address, rules) && (family === undefined || a.family === family));
        const first = allowed[0];
        if (first === undefined)
          callback(
            new AddressRefusedError(
              hostname,
              found.map((a) => a.address),
            ),
            '',
          );
        // With autoSelectFamily Node asks for every address (`all`); otherwise for one.
        else if (options.all === true) callback(null, allowed);
        else callback(null, first.address, first.family);
      },
      (err: unknown) => callback(err instanceof Error ? err : new Error('DNS resolution failed', { cause: err }), ''),
    );
  };
}
