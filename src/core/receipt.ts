import { randomBytes } from 'node:crypto';

// A nonce is what a probe carries so the far side can prove it arrived: 128 random bits, so nobody
// can guess one that a probe is about to send, with a prefix a responder can find in any payload
// (a syslog message, an SNMP trap's octet-string varbind, a raw UDP datagram).

/** One nonce: `rgn-` and 32 lowercase hex digits. */
export const NONCE_PATTERN = /rgn-[0-9a-f]{32}/g;
const ONE_NONCE = /^rgn-[0-9a-f]{32}$/;
/** Nonces taken from one payload at most: a datagram stuffed with them cannot grow a receipt store much. */
const NONCES_PER_PAYLOAD = 4;

/** A fresh, unguessable nonce (crypto.randomBytes). */
export function newNonce(): string {
  return `rgn-${randomBytes(16).toString('hex')}`;
}

/** Whether a text is one nonce, exactly. */
export function isNonce(text: unknown): text is string {
  return typeof text === 'string' && ONE_NONCE.test(text);
}

/** The distinct nonces a payload carries, in order, a few at most. */
export function noncesIn(payload: Buffer): string[] {
  const found = new Set<string>();
  for (const match of payload.toString('latin1').matchAll(NONCE_PATTERN)) {
    found.add(match[0]);
    if (found.size === NONCES_PER_PAYLOAD) break;
  }
  return [...found];
}

/** What a responder saw of one nonce: who sent it (after any NAT on the way), to which port, and when. */
export interface Receipt {
  nonce: string;
  protocol: 'udp' | 'tcp';
  /** The source address as it arrived: a router's address here means source NAT on the path. */
  source: string;
  source_port: number;
  /** The watched port it arrived on. */
  port: number;
  /** When the responder first saw it (ISO 8601). */
  received_at: string;
  /** Copies seen (a retransmission, a replay): only the first one's time and source count. */
  copies: number;
}

/** Where a raw UDP payload wants its nonce: every `{nonce}` in it, or else appended at its end. */
export const NONCE_MARKER = '{nonce}';

/** A payload that carries `nonce`: in place of each {@link NONCE_MARKER}, or after the last byte when it has none. */
export function carryNonce(payload: Buffer, nonce: string): Buffer {
  const marker = Buffer.from(NONCE_MARKER, 'latin1');
  const parts: Buffer[] = [];
  let from = 0;
  for (let at = payload.indexOf(marker); at !== -1; at = payload.indexOf(marker, from)) {
    parts.push(payload.subarray(from, at), Buffer.from(nonce, 'latin1'));
    from = at + marker.length;
  }
  if (parts.length === 0) return Buffer.concat([payload, Buffer.from(nonce, 'latin1')]);
  parts.push(payload.subarray(from));
  return Buffer.concat(parts);
}
