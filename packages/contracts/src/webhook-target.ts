/**
 * Which hosts a webhook may be delivered to. A webhook URL is chosen by the caller, and the worker
 * POSTs to it from inside the deployment, so by default only public addresses are reachable:
 * loopback, private, link-local, CGNAT, cloud metadata and every other special-purpose range are
 * refused. The API checks the URL as submitted (a literal address or `localhost`); the worker
 * checks every address the name resolves to and connects to the address it checked.
 *
 * Pure TypeScript (no Node built-ins): the API and the worker read it through
 * `@oneflow/contracts/webhook-target`.
 */

/** The environment variable of the allowlist: hosts, addresses and CIDRs, comma-separated. */
export const WEBHOOK_ALLOW_ENV = 'ONEFLOW_WEBHOOK_ALLOW';

/** Failure type of a delivery to a refused target (never retried). */
export const WEBHOOK_TARGET_REFUSED = 'WebhookTargetRefused';

/** An IP address as bytes: 4 (IPv4) or 16 (IPv6), network order. */
export type IpBytes = Uint8Array;

/** Parses dotted-quad IPv4 (four decimal parts, no leading zeros) into 4 bytes, or null. */
export function parseIPv4(text: string): IpBytes | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return null;
    out[i] = Number(p);
  }
  return out;
}

/** Parses an IPv6 address (`::` compression, an embedded IPv4 tail, optional brackets; no zone) into 16 bytes, or null. */
export function parseIPv6(text: string): IpBytes | null {
  let s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (s.includes('%') || !/^[0-9A-Fa-f:.]+$/.test(s)) return null;
  const words: number[] = [];
  // An IPv4 tail is the last two words.
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    const v4 = parseIPv4(s.slice(lastColon + 1));
    if (!v4) return null;
    s = `${s.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parse = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    for (const w of h.split(':')) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(w)) return null;
      out.push(parseInt(w, 16));
    }
    return out;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !tail) return null;
  if (halves.length === 2) {
    if (head.length + tail.length > 7) return null;
    words.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  } else {
    if (head.length !== 8) return null;
    words.push(...head);
  }
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** An IPv4 or IPv6 literal (IPv6 with or without brackets), or null for anything else. */
export function parseIp(text: string): IpBytes | null {
  return parseIPv4(text) ?? parseIPv6(text);
}

/** A network: `bytes` with the first `prefix` bits significant. */
export interface Cidr {
  bytes: IpBytes;
  prefix: number;
}

/** Parses `10.0.0.0/8`, `fd00::/8` or a single address (a /32 or /128), or null. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const bytes = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!bytes) return null;
  const max = bytes.length * 8;
  if (slash < 0) return { bytes, prefix: max };
  const p = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(p) || Number(p) > max) return null;
  return { bytes, prefix: Number(p) };
}

/** True when `ip` lies in `net` (same family). */
export function cidrContains(net: Cidr, ip: IpBytes): boolean {
  if (net.bytes.length !== ip.length) return false;
  let bits = net.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((net.bytes[i]! & mask) !== (ip[i]! & mask)) return false;
  }
  return true;
}

const net = (text: string): Cidr => parseCidr(text)!;

/** Special-purpose IPv4 ranges, most specific first (the metadata address before link-local). */
const IPV4_RANGES: readonly [Cidr, string][] = [
  [net('169.254.169.254/32'), 'cloud metadata'],
  [net('0.0.0.0/8'), 'unspecified ("this network")'],
  [net('10.0.0.0/8'), 'private'],
  [net('100.64.0.0/10'), 'shared address space (CGNAT)'],
  [net('127.0.0.0/8'), 'loopback'],
  [net('169.254.0.0/16'), 'link-local'],
  [net('172.16.0.0/12'), 'private'],
  [net('192.0.0.0/24'), 'reserved (IETF protocol assignments)'],
  [net('192.0.2.0/24'), 'reserved (documentation)'],
  [net('192.88.99.0/24'), 'reserved (6to4 relay)'],
  [net('192.168.0.0/16'), 'private'],
  [net('198.18.0.0/15'), 'reserved (benchmarking)'],
  [net('198.51.100.0/24'), 'reserved (documentation)'],
  [net('203.0.113.0/24'), 'reserved (documentation)'],
  [net('224.0.0.0/4'), 'multicast'],
  [net('240.0.0.0/4'), 'reserved'],
];

/** Special-purpose IPv6 ranges inside global unicast (2000::/3); everything outside it is refused too. */
const IPV6_RANGES: readonly [Cidr, string][] = [
  [net('fd00:ec2::254/128'), 'cloud metadata'],
  [net('::/128'), 'unspecified'],
  [net('::1/128'), 'loopback'],
  [net('fc00::/7'), 'private (unique local)'],
  [net('fe80::/10'), 'link-local'],
  [net('fec0::/10'), 'reserved (site-local)'],
  [net('ff00::/8'), 'multicast'],
  [net('2001:db8::/32'), 'reserved (documentation)'],
  [net('2001::/23'), 'reserved (IETF protocol assignments)'],
  [net('3fff::/20'), 'reserved (documentation)'],
];
const GLOBAL_UNICAST = net('2000::/3');
/** IPv6 forms that carry an IPv4 address, and where: mapped, NAT64, 6to4 (IPv4-compatible `::a.b.c.d` is outside 2000::/3). */
const EMBEDDED_V4: readonly [Cidr, number][] = [
  [net('::ffff:0:0/96'), 12],
  [net('64:ff9b::/96'), 12],
  [net('2002::/16'), 2],
];

/**
 * Why `ip` is not a public address (e.g. `'private'`, `'loopback'`, `'cloud metadata'`), or null
 * when it is one. An IPv6 address that embeds an IPv4 address (mapped `::ffff:a.b.c.d`, NAT64,
 * 6to4) is judged by the IPv4 address inside.
 */
export function nonPublicReason(ip: IpBytes): string | null {
  if (ip.length === 4) {
    for (const [range, reason] of IPV4_RANGES) if (cidrContains(range, ip)) return reason;
    return null;
  }
  for (const [range, reason] of IPV6_RANGES.slice(0, 3)) if (cidrContains(range, ip)) return reason;
  for (const [range, at] of EMBEDDED_V4) {
    if (cidrContains(range, ip)) {
      const inner = nonPublicReason(ip.slice(at, at + 4));
      return inner === null ? null : `${inner} (IPv4 inside IPv6)`;
    }
  }
  for (const [range, reason] of IPV6_RANGES.slice(3)) if (cidrContains(range, ip)) return reason;
  return cidrContains(GLOBAL_UNICAST, ip) ? null : 'reserved (not global unicast)';
}

/** Hosts that are exempt from the address rules: names (exact, or `*.` + a suffix) and networks. */
export interface WebhookTargetPolicy {
  /** Lowercase host names without a trailing dot; `*.example.com` matches every name under it. */
  hosts: readonly string[];
  networks: readonly Cidr[];
}

/** The default: nothing exempt, only public addresses. */
export const PUBLIC_ONLY: WebhookTargetPolicy = { hosts: [], networks: [] };

const HOST_NAME = /^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,62})?)(\.[a-z0-9_]([a-z0-9_-]{0,62})?)*$/;

/**
 * The allowlist from its text form (`ONEFLOW_WEBHOOK_ALLOW`): comma-separated host names
 * (`hooks.internal`, `*.corp.example`), addresses (`127.0.0.1`, `::1`) and networks
 * (`10.20.0.0/16`, `fd12::/16`). Throws on an entry that is none of these, naming it.
 */
export function parseWebhookAllowlist(text: string | undefined): WebhookTargetPolicy {
  const hosts: string[] = [];
  const networks: Cidr[] = [];
  for (const raw of (text ?? '').split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    const cidr = parseCidr(entry);
    if (cidr) networks.push(cidr);
    else if (HOST_NAME.test(entry.replace(/\.$/, ''))) hosts.push(entry.replace(/\.$/, ''));
    else throw new Error(`${WEBHOOK_ALLOW_ENV}: ${JSON.stringify(raw.trim().slice(0, 100))} is not a host name, an address or a CIDR`);
  }
  return { hosts, networks };
}

let cached: { text: string | undefined; policy: WebhookTargetPolicy } | null = null;
/** The policy of this process's `ONEFLOW_WEBHOOK_ALLOW` (read again when the variable changes). */
export function webhookTargetPolicyFromEnv(env: Record<string, string | undefined> = process.env): WebhookTargetPolicy {
  const text = env[WEBHOOK_ALLOW_ENV];
  if (cached === null || cached.text !== text) cached = { text, policy: parseWebhookAllowlist(text) };
  return cached.policy;
}

// A malformed list stops the process that imports this module (API, worker) at start, not at the
// first webhook.
webhookTargetPolicyFromEnv();

/** A URL's host as the rules see it: lowercase, no brackets, no trailing dot. */
export function normalizedHost(hostname: string): string {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

function hostAllowed(policy: WebhookTargetPolicy, host: string): boolean {
  return policy.hosts.some((h) => (h.startsWith('*.') ? host.endsWith(h.slice(1)) : h === host));
}

/**
 * Whether a delivery may connect to `address` (what `host` resolved to, or the literal itself):
 * null when allowed, else why not. Allowed: a host on the allowlist (any address), an address in
 * an allowlisted network, or a public address.
 */
export function refusedAddress(policy: WebhookTargetPolicy, host: string, address: IpBytes): string | null {
  if (hostAllowed(policy, normalizedHost(host))) return null;
  if (policy.networks.some((n) => cidrContains(n, address))) return null;
  const reason = nonPublicReason(address);
  return reason === null ? null : `${formatIp(address)} is ${reason}`;
}

/**
 * The check of a webhook URL as submitted, before any name is resolved: null when acceptable,
 * else why not. Refuses a scheme other than http/https, a literal non-public address and
 * `localhost` / `*.localhost` (always loopback) unless allowlisted. Other names are accepted here
 * and checked again at delivery, after resolution.
 */
export function refusedWebhookUrl(url: string, policy: WebhookTargetPolicy): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'not a URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'a webhook url is http or https';
  const host = normalizedHost(u.hostname);
  const literal = parseIp(host);
  if (literal) {
    const why = refusedAddress(policy, host, literal);
    return why === null ? null : `webhook host ${why}; only public addresses are delivered to unless ${WEBHOOK_ALLOW_ENV} allows it`;
  }
  if ((host === 'localhost' || host.endsWith('.localhost')) && !hostAllowed(policy, host))
    return `webhook host ${host} is loopback; only public addresses are delivered to unless ${WEBHOOK_ALLOW_ENV} allows it`;
  return null;
}

/** `10.0.0.1` or `fd00::1` (IPv6 as eight hex words, zeros compressed once). */
export function formatIp(ip: IpBytes): string {
  if (ip.length === 4) return ip.join('.');
  const words = Array.from({ length: 8 }, (_, i) => ((ip[2 * i]! << 8) | ip[2 * i + 1]!).toString(16));
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.at < 0) return words.join(':');
  return `${words.slice(0, best.at).join(':')}::${words.slice(best.at + best.len).join(':')}`;
}
