/**
 * Decides whether an IP address is a public unicast address Arrakis may connect to on a user's behalf.
 * Pure: no DNS, no sockets. The tables are explicit (rather than ipaddr.js's `range()` names) so that a
 * reader can audit every refused network in one place, and so a library update cannot silently open one.
 */
import ipaddr from 'ipaddr.js';

export type AddressClass = { public: true } | { public: false; range: string };

type Embedded = 'last32' | 'sixToFour';

interface Rule<T> {
  cidr: [T, number];
  range: string;
  /** Set when the network embeds an IPv4 address that decides the verdict instead. */
  embedded?: Embedded;
}

function rules<T>(
  kind: (s: string) => [T, number],
  list: Array<[string, string, Embedded?]>,
): Array<Rule<T>> {
  return list.map(([cidr, range, embedded]) => ({
    cidr: kind(cidr),
    range,
    ...(embedded ? { embedded } : {}),
  }));
}

/** Order matters only where networks nest (the more specific comes first). */
function ipv4Rules(): Array<Rule<ipaddr.IPv4>> {
  return rules(
    (s) => ipaddr.IPv4.parseCIDR(s),
    [
      ['0.0.0.0/8', 'unspecified'],
      ['10.0.0.0/8', 'private'],
      ['100.64.0.0/10', 'carrier-grade-nat'],
      ['127.0.0.0/8', 'loopback'],
      ['169.254.0.0/16', 'link-local'],
      ['172.16.0.0/12', 'private'],
      ['192.0.0.0/24', 'ietf-protocol-assignments'],
      ['192.0.2.0/24', 'documentation'],
      ['192.88.99.0/24', '6to4-relay-anycast'],
      ['192.168.0.0/16', 'private'],
      ['198.18.0.0/15', 'benchmarking'],
      ['198.51.100.0/24', 'documentation'],
      ['203.0.113.0/24', 'documentation'],
      ['224.0.0.0/4', 'multicast'],
      ['255.255.255.255/32', 'broadcast'],
      ['240.0.0.0/4', 'reserved'],
    ],
  );
}

function ipv6Rules(): Array<Rule<ipaddr.IPv6>> {
  return rules(
    (s) => ipaddr.IPv6.parseCIDR(s),
    [
      ['::/128', 'unspecified'],
      ['::1/128', 'loopback'],
      ['::ffff:0:0/96', 'ipv4-mapped', 'last32'],
      ['::/96', 'ipv4-compatible', 'last32'],
      ['::ffff:0:0:0/96', 'ipv4-translated', 'last32'],
      ['64:ff9b::/96', 'nat64', 'last32'],
      // The local-use NAT64 prefix only exists inside a network, so nothing behind it is public.
      ['64:ff9b:1::/48', 'nat64-local'],
      ['100::/64', 'discard-only'],
      // Teredo hides the client's IPv4 address obfuscated; a tunnel endpoint is never a legitimate input host.
      ['2001::/32', 'teredo'],
      ['2001:2::/48', 'benchmarking'],
      ['2001:10::/28', 'orchid'],
      ['2001:20::/28', 'orchid'],
      ['2001:db8::/32', 'documentation'],
      ['2002::/16', '6to4', 'sixToFour'],
      ['3fff::/20', 'documentation'],
      ['5f00::/16', 'srv6-sid'],
      ['fc00::/7', 'unique-local'],
      ['fe80::/10', 'link-local'],
      ['fec0::/10', 'site-local'],
      ['ff00::/8', 'multicast'],
    ],
  );
}

/** Everything outside 2000::/3 is unassigned or special-purpose; refusing it is the safe default. */
const GLOBAL_UNICAST_V6 = '2000::/3';

function embeddedIpv4(addr: ipaddr.IPv6, how: Embedded): ipaddr.IPv4 {
  const p = addr.parts;
  const [hi, lo] = how === 'last32' ? [p[6] ?? 0, p[7] ?? 0] : [p[1] ?? 0, p[2] ?? 0];
  return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
}

const IPV4_RULES = ipv4Rules();
const IPV6_RULES = ipv6Rules();
const GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR(GLOBAL_UNICAST_V6);

function classifyV4(addr: ipaddr.IPv4): AddressClass {
  for (const rule of IPV4_RULES) {
    if (addr.match(rule.cidr)) return { public: false, range: rule.range };
  }
  return { public: true };
}

function classifyV6(addr: ipaddr.IPv6): AddressClass {
  for (const rule of IPV6_RULES) {
    if (!addr.match(rule.cidr)) continue;
    if (rule.embedded === undefined) return { public: false, range: rule.range };
    const inner = classifyV4(embeddedIpv4(addr, rule.embedded));
    return inner.public ? inner : { public: false, range: `${rule.range}:${inner.range}` };
  }
  if (!addr.match(GLOBAL_UNICAST)) return { public: false, range: 'reserved' };
  return { public: true };
}

/**
 * Classifies one IP address (IPv4 in any form ipaddr.js parses, or IPv6 with or without brackets/zone).
 * Anything that is not an IP address is refused as `invalid`.
 */
export function classifyAddress(ip: string): AddressClass {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  if (!ipaddr.isValid(bare)) return { public: false, range: 'invalid' };
  const addr = ipaddr.parse(bare);
  return addr instanceof ipaddr.IPv4 ? classifyV4(addr) : classifyV6(addr);
}

/** The canonical text of an IP address (dotted quad, RFC 5952 IPv6), or null when `ip` is not one. */
export function normalizeAddress(ip: string): string | null {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  if (!ipaddr.isValid(bare)) return null;
  const addr = ipaddr.parse(bare);
  return addr instanceof ipaddr.IPv4 ? addr.toString() : addr.toRFC5952String();
}
