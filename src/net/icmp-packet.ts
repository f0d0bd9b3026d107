import { isIP } from 'node:net';
import type { State } from '../core/result.js';
import type { IcmpError } from '../core/icmp.js';

export type { IcmpError };

const PROTOCOLS: Record<number, IcmpError['quoted']['protocol']> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmp' };

/** Parse an IPv4 packet (IP header included, as a raw socket reads it) holding an ICMP error; null for anything else. */
export function parseIcmp4(packet: Buffer, from: string): IcmpError | null {
  if (packet.length < 20) return null;
  const icmpAt = (packet[0]! & 0x0f) * 4;
  const type = packet[icmpAt];
  const code = packet[icmpAt + 1];
  // 3 destination unreachable, 11 time exceeded
  if (type === undefined || code === undefined || (type !== 3 && type !== 11)) return null;
  const quotedAt = icmpAt + 8;
  if (packet.length < quotedAt + 20) return null;
  const quotedHeader = (packet[quotedAt]! & 0x0f) * 4;
  const transportAt = quotedAt + quotedHeader;
  if (packet.length < transportAt + 4) return null;
  return {
    family: 4,
    type,
    code,
    from,
    quoted: {
      protocol: PROTOCOLS[packet[quotedAt + 9]!] ?? 'other',
      source: packet.subarray(quotedAt + 12, quotedAt + 16).join('.'),
      destination: packet.subarray(quotedAt + 16, quotedAt + 20).join('.'),
      ...ports(packet, transportAt, packet[quotedAt + 9] === 1),
    },
  };
}

/** Parse an ICMPv6 message (no IP header, as a raw ICMPv6 socket reads it) holding an error; null for anything else. */
export function parseIcmp6(message: Buffer, from: string): IcmpError | null {
  const type = message[0];
  const code = message[1];
  // 1 destination unreachable, 3 time exceeded
  if (type === undefined || code === undefined || (type !== 1 && type !== 3)) return null;
  const quotedAt = 8;
  const transportAt = quotedAt + 40;
  if (message.length < transportAt + 4) return null;
  const nextHeader = message[quotedAt + 6]!;
  return {
    family: 6,
    type,
    code,
    from,
    quoted: {
      protocol: PROTOCOLS[nextHeader] ?? 'other',
      source: ipv6(message.subarray(quotedAt + 8, quotedAt + 24)),
      destination: ipv6(message.subarray(quotedAt + 24, quotedAt + 40)),
      ...ports(message, transportAt, nextHeader === 58),
    },
  };
}

function ports(packet: Buffer, at: number, isIcmp: boolean): { sourcePort: number; destinationPort: number } {
  // An echo request has no ports: its identifier stands in for both.
  if (isIcmp) return { sourcePort: packet.length >= at + 6 ? packet.readUInt16BE(at + 4) : 0, destinationPort: 0 };
  return { sourcePort: packet.readUInt16BE(at), destinationPort: packet.readUInt16BE(at + 2) };
}

/** Compressed text form of a 16-byte IPv6 address. */
export function ipv6(bytes: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength && j - i > 1) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

interface Meaning {
  state: State;
  name: string;
}

// Destination unreachable codes by number: ICMPv4 (RFC 792, RFC 1812 5.2.7.1), ICMPv6 (RFC 4443 3.1).
const V4_UNREACHABLE = [
  'net-unreachable',
  'host-unreachable',
  'protocol-unreachable',
  'port-unreachable',
  'fragmentation-needed',
  'source-route-failed',
  'net-unknown',
  'host-unknown',
  'source-host-isolated',
  'net-prohibited',
  'host-prohibited',
  'net-unreachable-for-tos',
  'host-unreachable-for-tos',
  'admin-prohibited',
  'host-precedence-violation',
  'precedence-cutoff',
];
const V6_UNREACHABLE = [
  'no-route',
  'admin-prohibited',
  'beyond-scope',
  'addr-unreachable',
  'port-unreachable',
  'policy-fail',
  'reject-route',
];

/** The codes that prove more than unreachable: the host itself answered (closed), or a filter rejected (prohibited). */
const PROVES: Readonly<Record<string, State>> = {
  'protocol-unreachable': 'closed',
  'port-unreachable': 'closed',
  'source-host-isolated': 'prohibited',
  'net-prohibited': 'prohibited',
  'host-prohibited': 'prohibited',
  'admin-prohibited': 'prohibited',
  'host-precedence-violation': 'prohibited',
  'precedence-cutoff': 'prohibited',
  'policy-fail': 'prohibited',
  'reject-route': 'prohibited',
};

/** What an ICMP error says about the path: the state it proves and its name. */
export function meaningOf(error: Pick<IcmpError, 'family' | 'type' | 'code'>): Meaning {
  const timeExceeded = error.family === 4 ? error.type === 11 : error.type === 3;
  if (timeExceeded) return { state: 'unreachable', name: 'time-exceeded' };
  const name = (error.family === 4 ? V4_UNREACHABLE : V6_UNREACHABLE)[error.code] ?? `unreachable-code-${error.code}`;
  return { state: PROVES[name] ?? 'unreachable', name };
}

/** One line for a reason: "ICMP admin-prohibited (3/13) from 192.0.2.1". */
export function describeIcmp(error: Pick<IcmpError, 'family' | 'type' | 'code' | 'from'>): string {
  return `ICMP${error.family === 6 ? 'v6' : ''} ${meaningOf(error).name} (${error.type}/${error.code})`;
}

/** The 4 or 16 bytes of an IPv4 or IPv6 address in text form. */
export function addressBytes(address: string): Buffer {
  if (isIP(address) === 4) return Buffer.from(address.split('.').map(Number));
  const [head = '', tail] = address.split('::') as [string, string | undefined];
  const groups = (text: string): number[] => (text === '' ? [] : text.split(':').map((group) => parseInt(group, 16)));
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  const bytes = Buffer.alloc(16);
  all.forEach((group, index) => bytes.writeUInt16BE(group, index * 2));
  return bytes;
}

/** The canonical text of an address, as answers name it. */
export function canonicalAddress(address: string): string {
  return isIP(address) === 6 ? ipv6(addressBytes(address)) : address;
}
