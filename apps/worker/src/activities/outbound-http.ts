import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import {
  formatIp,
  normalizedHost,
  parseIp,
  refusedAddress,
  refusedWebhookUrl,
  type WebhookTargetPolicy,
} from '@oneflow/contracts/webhook-target';

/** One address a host name resolved to. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Name resolution, our seam: the system resolver in production, a table of names in tests. */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

/** Every address the system resolver (getaddrinfo, as `fetch` uses) gives for `hostname`. */
export const systemResolver: HostResolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/** The target is not one the policy lets us reach: permanent for this URL (the activity does not retry it). */
export class TargetRefusedError extends Error {
  override readonly name = 'TargetRefusedError';
}

/**
 * The address a request to `url` will connect to: the literal itself, or the first address the
 * name resolves to. Every resolved address must pass the policy (a name with one private record
 * among public ones is refused), so the answer cannot depend on which record a later lookup
 * returns first.
 */
export async function resolveTarget(url: URL, policy: WebhookTargetPolicy, resolver: HostResolver): Promise<ResolvedAddress> {
  const why = refusedWebhookUrl(url.href, policy);
  if (why) throw new TargetRefusedError(why);
  const host = normalizedHost(url.hostname);
  const literal = parseIp(host);
  if (literal) return { address: formatIp(literal), family: literal.length === 4 ? 4 : 6 };
  const addresses = await resolver(host);
  if (addresses.length === 0) throw new Error(`${host} resolved to no address`);
  const refused = addresses
    .map((a) => {
      const ip = parseIp(a.address);
      return ip ? refusedAddress(policy, host, ip) : `${a.address} is not an IP address`;
    })
    .filter((r): r is string => r !== null);
  if (refused.length > 0) throw new TargetRefusedError(`webhook host ${host} resolves to ${refused.join(', ')}`);
  return addresses[0]!;
}

export interface PinnedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The address the request was sent to (the one that was checked). */
  address: string;
}

/**
 * POSTs `body` to `url` on a fresh connection to the address {@link resolveTarget} checked: the
 * connection's own lookup answers with that address, so a second DNS answer (rebinding) is never
 * used, while the Host header and TLS server name stay the URL's host. Redirects are not followed:
 * a 3xx is returned like any other status. The response body is read and dropped.
 */
export async function postPinned(
  url: string,
  options: {
    headers: OutgoingHttpHeaders;
    body: string;
    policy: WebhookTargetPolicy;
    resolver: HostResolver;
    signal: AbortSignal;
  },
): Promise<PinnedResponse> {
  const u = new URL(url);
  const target = await resolveTarget(u, options.policy, options.resolver);
  const pinned: LookupFunction = (_hostname, lookupOptions, callback) => {
    // net.connect asks for every address when it may try both families (autoSelectFamily).
    if ((lookupOptions as { all?: boolean }).all) (callback as (e: null, a: ResolvedAddress[]) => void)(null, [target]);
    else callback(null, target.address, target.family);
  };
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<PinnedResponse>((resolve, reject) => {
    const req = request(
      {
        protocol: u.protocol,
        hostname: normalizedHost(u.hostname),
        port: u.port || undefined,
        path: `${u.pathname}${u.search}`,
        method: 'POST',
        headers: { ...options.headers, 'content-length': Buffer.byteLength(options.body) },
        lookup: pinned,
        // A connection of its own: a pooled socket might have been opened for another address.
        agent: false,
        signal: options.signal,
      },
      (res) => {
        res.resume();
        res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, address: target.address }));
        res.once('error', reject);
      },
    );
    req.once('error', reject);
    req.end(options.body);
  });
}
