import { describe, expect, it } from 'vitest';
import {
  formatIp,
  nonPublicReason,
  parseCidr,
  parseIp,
  parseIPv6,
  parseWebhookAllowlist,
  PUBLIC_ONLY,
  refusedAddress,
  refusedWebhookUrl,
  webhookTargetPolicyFromEnv,
} from './webhook-target.js';

const reason = (text: string) => nonPublicReason(parseIp(text)!);

describe('webhook target addresses', () => {
  it('parses IPv4 and IPv6 literals, and refuses what is not one', () => {
    expect([...parseIp('192.168.1.20')!]).toEqual([192, 168, 1, 20]);
    expect(formatIp(parseIp('::1')!)).toBe('::1');
    expect(formatIp(parseIp('[fd00:ec2::254]')!)).toBe('fd00:ec2::254');
    expect(formatIp(parseIp('::ffff:127.0.0.1')!)).toBe('::ffff:7f00:1');
    expect(formatIp(parseIp('2001:db8:0:0:1:0:0:1')!)).toBe('2001:db8::1:0:0:1');
    expect([...parseIPv6('1:2:3:4:5:6:7:8')!].slice(14)).toEqual([0, 8]);
    for (const bad of [
      '256.1.1.1',
      '1.2.3',
      '01.2.3.4',
      '1.2.3.4.5',
      'example.com',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      'fe80::1%eth0',
      ':::',
      '',
    ])
      expect(parseIp(bad), bad).toBeNull();
  });

  it('names every non-public IPv4 range', () => {
    const table: [string, string][] = [
      ['127.0.0.1', 'loopback'],
      ['127.255.0.9', 'loopback'],
      ['10.1.2.3', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.0.10', 'private'],
      ['169.254.1.1', 'link-local'],
      ['169.254.169.254', 'cloud metadata'],
      ['100.64.0.1', 'shared address space (CGNAT)'],
      ['100.127.255.254', 'shared address space (CGNAT)'],
      ['0.0.0.0', 'unspecified ("this network")'],
      ['0.1.2.3', 'unspecified ("this network")'],
      ['224.0.0.251', 'multicast'],
      ['239.255.255.250', 'multicast'],
      ['240.0.0.1', 'reserved'],
      ['255.255.255.255', 'reserved'],
      ['192.0.2.5', 'reserved (documentation)'],
      ['198.18.0.1', 'reserved (benchmarking)'],
      ['192.0.0.8', 'reserved (IETF protocol assignments)'],
    ];
    for (const [ip, why] of table) expect(reason(ip), ip).toBe(why);
    // The edges of the ranges are public.
    for (const ip of ['8.8.8.8', '1.1.1.1', '172.15.255.255', '172.32.0.0', '100.63.255.255', '100.128.0.0', '11.0.0.1', '223.255.255.255'])
      expect(reason(ip), ip).toBeNull();
  });

  it('names every non-public IPv6 range, and judges IPv4 inside IPv6 by the IPv4 address', () => {
    const table: [string, string][] = [
      ['::1', 'loopback'],
      ['::', 'unspecified'],
      ['fd00::1', 'private (unique local)'],
      ['fc12:3456::1', 'private (unique local)'],
      ['fd00:ec2::254', 'cloud metadata'],
      ['fe80::1', 'link-local'],
      ['ff02::1', 'multicast'],
      ['2001:db8::1', 'reserved (documentation)'],
      ['::ffff:127.0.0.1', 'loopback (IPv4 inside IPv6)'],
      ['::ffff:10.0.0.1', 'private (IPv4 inside IPv6)'],
      ['::ffff:169.254.169.254', 'cloud metadata (IPv4 inside IPv6)'],
      ['64:ff9b::192.168.0.1', 'private (IPv4 inside IPv6)'],
      ['2002:a00:1::', 'private (IPv4 inside IPv6)'],
      ['::127.0.0.1', 'reserved (not global unicast)'],
      ['100::1', 'reserved (not global unicast)'],
    ];
    for (const [ip, why] of table) expect(reason(ip), ip).toBe(why);
    for (const ip of ['2606:4700:4700::1111', '2a00:1450:4001:81b::200e', '::ffff:8.8.8.8', '64:ff9b::8.8.8.8'])
      expect(reason(ip), ip).toBeNull();
  });
});

describe('webhook URLs at submission', () => {
  it('refuses literal non-public addresses and localhost, accepts public ones and names', () => {
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'http://localhost/hook',
      'http://LOCALHOST./hook',
      'http://api.localhost/hook',
      'http://[::1]/hook',
      'http://10.0.0.7/hook',
      'https://192.168.1.1/',
      'http://169.254.169.254/latest/meta-data/',
      'http://[fd00:ec2::254]/',
      'http://100.64.1.1/',
      'http://0.0.0.0:3000/',
      'http://[::ffff:127.0.0.1]/',
      'http://224.0.0.1/',
      // The URL parser's other spellings of 127.0.0.1 are the same address.
      'http://2130706433/',
      'http://0x7f.1/',
      'http://127.1/',
    ])
      expect(refusedWebhookUrl(url, PUBLIC_ONLY), url).toMatch(/only public addresses are delivered to unless ONEFLOW_WEBHOOK_ALLOW/);
    expect(refusedWebhookUrl('http://169.254.169.254/', PUBLIC_ONLY)).toContain('169.254.169.254 is cloud metadata');
    for (const url of ['https://hooks.example.com/x', 'http://8.8.8.8/', 'https://[2606:4700:4700::1111]/', 'http://internal.corp/']) {
      expect(refusedWebhookUrl(url, PUBLIC_ONLY), url).toBeNull();
    }
    expect(refusedWebhookUrl('ftp://example.com/', PUBLIC_ONLY)).toBe('a webhook url is http or https');
    expect(refusedWebhookUrl('not a url', PUBLIC_ONLY)).toBe('not a URL');
  });

  it('an allowlist of hosts, addresses and networks lets exactly those through', () => {
    const policy = parseWebhookAllowlist(' localhost, 127.0.0.1 ,10.20.0.0/16,fd12::/16, *.corp.example,HOOKS.internal. ');
    expect(policy.hosts).toEqual(['localhost', '*.corp.example', 'hooks.internal']);
    expect(policy.networks).toHaveLength(3);
    for (const url of ['http://localhost:3000/', 'http://127.0.0.1/', 'http://10.20.3.4/', 'http://[fd12::9]/'])
      expect(refusedWebhookUrl(url, policy), url).toBeNull();
    for (const url of ['http://127.0.0.2/', 'http://10.21.0.1/', 'http://[fd13::1]/', 'http://api.localhost/', 'http://169.254.169.254/'])
      expect(refusedWebhookUrl(url, policy), url).not.toBeNull();
    // A listed name may resolve anywhere; an unlisted one only to public or listed addresses.
    expect(refusedAddress(policy, 'a.corp.example', parseIp('10.99.0.1')!)).toBeNull();
    expect(refusedAddress(policy, 'hooks.internal', parseIp('192.168.0.3')!)).toBeNull();
    expect(refusedAddress(policy, 'corp.example', parseIp('10.99.0.1')!)).toBe('10.99.0.1 is private');
    expect(refusedAddress(policy, 'other.example', parseIp('10.20.0.1')!)).toBeNull();
    expect(refusedAddress(policy, 'other.example', parseIp('172.16.0.1')!)).toBe('172.16.0.1 is private');
  });

  it('refuses a malformed allowlist, naming the entry', () => {
    expect(() => parseWebhookAllowlist('127.0.0.1,10.0.0.0/33')).toThrow(/ONEFLOW_WEBHOOK_ALLOW: "10.0.0.0\/33" is not/);
    expect(() => parseWebhookAllowlist('http://x/')).toThrow(/"http:\/\/x\/" is not a host name/);
    expect(parseCidr('10.0.0.0/8')).toEqual({ bytes: new Uint8Array([10, 0, 0, 0]), prefix: 8 });
    expect(parseWebhookAllowlist(undefined)).toEqual(PUBLIC_ONLY);
  });

  it('reads the policy from ONEFLOW_WEBHOOK_ALLOW, again when it changes', () => {
    const env: Record<string, string | undefined> = {};
    expect(refusedWebhookUrl('http://127.0.0.1/', webhookTargetPolicyFromEnv(env))).not.toBeNull();
    env['ONEFLOW_WEBHOOK_ALLOW'] = '127.0.0.1';
    expect(refusedWebhookUrl('http://127.0.0.1/', webhookTargetPolicyFromEnv(env))).toBeNull();
  });
});
