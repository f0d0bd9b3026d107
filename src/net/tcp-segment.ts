import { createHmac } from 'node:crypto';
import { isIP } from 'node:net';
import { addressBytes } from './icmp-packet.js';

// TCP segments as a raw socket sends and reads them (RFC 9293 3.1), and the cookie that lets a SYN scanner
// match answers without remembering what it sent.

// Kept here for its importers; it lives in icmp-packet.ts, whose importers need no crypto.
export { addressBytes };

/** TCP flag bits. */
export const TCP_FLAGS = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

/** Length of the SYN this module builds: a 20-byte header and one MSS option. */
export const SYN_LENGTH = 24;

/** What a SYN carries. */
export interface SynFields {
  sourcePort: number;
  destinationPort: number;
  sequence: number;
}

/**
 * A SYN with an MSS option, its checksum left 0: IPv6 raw sockets fill it in (IPV6_CHECKSUM), IPv4 callers
 * write it with {@link writeTcpChecksum}.
 */
export function buildSyn(fields: SynFields): Buffer {
  const segment = Buffer.alloc(SYN_LENGTH);
  segment.writeUInt16BE(fields.sourcePort, 0);
  segment.writeUInt16BE(fields.destinationPort, 2);
  segment.writeUInt32BE(fields.sequence >>> 0, 4);
  segment[12] = (SYN_LENGTH / 4) << 4;
  segment[13] = TCP_FLAGS.SYN;
  segment.writeUInt16BE(1024, 14);
  // MSS 1460, as an Ethernet host would offer.
  segment.set([2, 4, 0x05, 0xb4], 20);
  return segment;
}

/** Write the TCP checksum over the pseudo-header of `source` → `destination` (IPv4 or IPv6) into `segment`. */
export function writeTcpChecksum(segment: Buffer, source: string, destination: string): void {
  segment.writeUInt16BE(0, 16);
  segment.writeUInt16BE(tcpChecksum(segment, source, destination), 16);
}

/** The Internet checksum (RFC 1071) of a TCP segment and its pseudo-header (RFC 9293 3.1, RFC 8200 8.1). */
export function tcpChecksum(segment: Buffer, source: string, destination: string): number {
  const v6 = isIP(source) === 6;
  const pseudo = Buffer.alloc(v6 ? 40 : 12);
  if (v6) {
    addressBytes(source).copy(pseudo, 0);
    addressBytes(destination).copy(pseudo, 16);
    pseudo.writeUInt32BE(segment.length, 32);
    pseudo[39] = 6;
  } else {
    addressBytes(source).copy(pseudo, 0);
    addressBytes(destination).copy(pseudo, 4);
    pseudo[9] = 6;
    pseudo.writeUInt16BE(segment.length, 10);
  }
  let sum = onesSum(pseudo, 0) + onesSum(segment, 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function onesSum(bytes: Buffer, start: number): number {
  let sum = start;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += bytes.readUInt16BE(i);
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8;
  return sum;
}

/** The header fields of a TCP segment a raw socket read. */
export interface TcpHeader {
  /** The sender of the segment (the probed host, for an answer). */
  source: string;
  sourcePort: number;
  destinationPort: number;
  sequence: number;
  acknowledgment: number;
  flags: number;
}

/**
 * Parse a TCP segment as a raw socket reads it: IPv4 with its IP header, IPv6 without (the kernel keeps the
 * IPv6 header; `source` is the sender recvfrom named). Null for anything too short or not TCP.
 */
export function parseTcp(family: 4 | 6, packet: Buffer, source: string): TcpHeader | null {
  let at = 0;
  if (family === 4) {
    if (packet.length < 20 || packet[9] !== 6) return null;
    at = (packet[0]! & 0x0f) * 4;
  }
  if (packet.length < at + 20) return null;
  return {
    source,
    sourcePort: packet.readUInt16BE(at),
    destinationPort: packet.readUInt16BE(at + 2),
    sequence: packet.readUInt32BE(at + 4),
    acknowledgment: packet.readUInt32BE(at + 8),
    flags: packet[at + 13]!,
  };
}

/**
 * The transport header an ICMP error quotes (at least its first 8 bytes, RFC 792 and RFC 4443): IPv4 with its
 * IP header, ICMPv6 without. Null when the quote is shorter than 8 bytes.
 */
export function quotedTransport(family: 4 | 6, packet: Buffer): Buffer | null {
  let at: number;
  if (family === 4) {
    if (packet.length < 20) return null;
    const quotedAt = (packet[0]! & 0x0f) * 4 + 8;
    if (packet.length < quotedAt + 20) return null;
    at = quotedAt + (packet[quotedAt]! & 0x0f) * 4;
  } else {
    at = 8 + 40;
  }
  return packet.length < at + 8 ? null : packet.subarray(at, at + 8);
}

/** The sequence number of the TCP segment an ICMP error quotes; null when the quote is too short. */
export function quotedSequence(family: 4 | 6, packet: Buffer): number | null {
  return quotedTransport(family, packet)?.readUInt32BE(4) ?? null;
}

/** Per-address subkeys kept at most; a sweep over more addresses derives them again. */
const SUBKEYS_KEPT = 4096;

/**
 * Keyed SYN cookies: the sequence number of a SYN to (address, port) from `localPort`, such that an answer
 * (ack = cookie + 1) or an ICMP error quoting it proves itself ours with nothing remembered per probe.
 * Each address gets a subkey, HMAC-SHA256(secret, address); the ports are mixed into it with a keyed
 * integer hash: a host that sees its own SYNs learns nothing that forges cookies for another address.
 */
export class SynCookies {
  readonly #secret: Buffer;
  readonly #subkeys = new Map<string, Uint32Array>();

  constructor(secret: Buffer) {
    this.#secret = secret;
  }

  /** The cookie for a SYN to `address`:`port` from `localPort`. */
  cookie(address: string, port: number, localPort: number): number {
    const key = this.subkey(address);
    let h = (key[0]! ^ ((port << 16) | localPort)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b ^ key[1]!);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35 ^ key[2]!);
    return (h ^ (h >>> 16) ^ key[3]!) >>> 0;
  }

  /** The address's subkey: the four words {@link cookie} mixes the ports into (the sweep engine does it natively). */
  subkey(address: string): Uint32Array {
    const canonical = address.toLowerCase();
    let key = this.#subkeys.get(canonical);
    if (key) return key;
    if (this.#subkeys.size >= SUBKEYS_KEPT) this.#subkeys.clear();
    const digest = createHmac('sha256', this.#secret).update(addressBytes(canonical)).digest();
    key = new Uint32Array([
      digest.readUInt32BE(0),
      digest.readUInt32BE(4),
      digest.readUInt32BE(8),
      digest.readUInt32BE(12),
    ]);
    this.#subkeys.set(canonical, key);
    return key;
  }
}
