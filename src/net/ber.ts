// A small BER (X.690) codec for the wire formats probes speak: SNMP messages, Kerberos AS-REQ.
// Encoding builds definite-length TLVs; decoding is strict about structure (one-byte tags,
// definite lengths that fit the buffer, exact nesting) because whatever fails it is not an answer.

/** Identifier bytes of the universal types used here (one-byte, low-tag-number form). */
export const TAG = {
  integer: 0x02,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  sequence: 0x30,
} as const;

/** One decoded TLV: its identifier byte and its content octets. */
export interface Tlv {
  tag: number;
  contents: Buffer;
}

/** Bytes that are not the BER expected: the datagram is garbage, not an answer. */
export class BerError extends Error {
  override name = 'BerError';
  readonly code = 'RG_BER';
}

/** Type guard for BerError. */
export function isBerError(error: unknown): error is BerError {
  return error instanceof BerError;
}

// No SNMP or Kerberos value needs more; a longer integer is garbage, not a number to compute with.
const MAX_INTEGER_BYTES = 16;
// RFC 2578: an OID has at most 128 sub-identifiers, each at most 2^32-1.
const MAX_OID_ARCS = 128;
const MAX_ARC = 0xffffffff;

/** Encode one TLV with a one-byte identifier and a definite length. */
export function encodeTlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), encodeLength(body.length), body]);
}

/** Encode a SEQUENCE of already encoded items. */
export function encodeSequence(...items: Buffer[]): Buffer {
  return encodeTlv(TAG.sequence, ...items);
}

/** Encode an INTEGER (or an application type with INTEGER encoding) in the fewest two's-complement octets. */
export function encodeInteger(value: number | bigint, tag: number = TAG.integer): Buffer {
  let rest = BigInt(value);
  const bytes: number[] = [];
  for (;;) {
    const byte = Number(rest & 0xffn);
    bytes.unshift(byte);
    rest >>= 8n;
    // Done once the remaining bits are pure sign extension of the byte just written.
    if ((rest === 0n && (byte & 0x80) === 0) || (rest === -1n && (byte & 0x80) !== 0)) break;
  }
  return encodeTlv(tag, Buffer.from(bytes));
}

/** Encode an OCTET STRING from bytes or UTF-8 text. */
export function encodeOctetString(value: Buffer | string, tag: number = TAG.octetString): Buffer {
  return encodeTlv(tag, typeof value === 'string' ? Buffer.from(value, 'utf8') : value);
}

/** Encode a NULL. */
export function encodeNull(): Buffer {
  return encodeTlv(TAG.null);
}

/** Encode an OBJECT IDENTIFIER from its dotted form, e.g. 1.3.6.1.2.1.1.1.0. */
export function encodeOid(dotted: string): Buffer {
  const arcs = parseOid(dotted);
  const [first, second, ...rest] = arcs as [number, number, ...number[]];
  const bytes = [first * 40 + second, ...rest].flatMap(base128);
  return encodeTlv(TAG.oid, Buffer.from(bytes));
}

/** The arcs of a dotted OID; throws BerError saying what is wrong with it. */
export function parseOid(dotted: string): number[] {
  const parts = dotted.replace(/^\./, '').split('.');
  if (parts.length < 2) throw new BerError(`an OID has at least two arcs, got \`${dotted}\``);
  if (parts.length > MAX_OID_ARCS) throw new BerError(`an OID has at most ${MAX_OID_ARCS} arcs, got ${parts.length}`);
  const arcs = parts.map((part, index) => {
    if (!/^\d+$/.test(part)) throw new BerError(`arc ${index + 1} of \`${dotted}\` is \`${part}\`, not a whole number`);
    const arc = Number(part);
    if (arc > MAX_ARC) throw new BerError(`arc ${index + 1} of \`${dotted}\` is above ${MAX_ARC}`);
    return arc;
  });
  const [first, second] = arcs as [number, number];
  if (first > 2) throw new BerError(`the first arc of \`${dotted}\` must be 0, 1 or 2, got ${first}`);
  if (first < 2 && second > 39)
    throw new BerError(`the second arc of \`${dotted}\` must be at most 39 under ${first}, got ${second}`);
  if (first === 2 && second > MAX_ARC - 80) throw new BerError(`the second arc of \`${dotted}\` is too large`);
  return arcs;
}

function base128(value: number): number[] {
  const bytes = [value % 128];
  let rest = Math.floor(value / 128);
  while (rest > 0) {
    bytes.unshift((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  return bytes;
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Decode the TLV at `offset`; returns it and the offset just past it. */
export function decodeTlv(buffer: Buffer, offset = 0): { tlv: Tlv; end: number } {
  const tag = buffer[offset];
  if (tag === undefined) throw new BerError(`a TLV was expected at byte ${offset}, but the data ended`);
  if ((tag & 0x1f) === 0x1f) throw new BerError(`multi-byte tag at byte ${offset} is not used by these protocols`);
  const first = buffer[offset + 1];
  if (first === undefined) throw new BerError(`the length at byte ${offset + 1} is missing`);
  let length = first;
  let at = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    // 0x80 is the indefinite form, which SNMP and Kerberos forbid; more than 4 length bytes is nonsense in a datagram.
    if (count === 0 || count > 4)
      throw new BerError(`unsupported length form 0x${first.toString(16)} at byte ${offset + 1}`);
    if (at + count > buffer.length) throw new BerError(`the length at byte ${offset + 1} is cut off`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buffer[at + i]!;
    at += count;
  }
  const end = at + length;
  if (end > buffer.length)
    throw new BerError(`a TLV at byte ${offset} claims ${length} bytes, only ${buffer.length - at} remain`);
  return { tlv: { tag, contents: buffer.subarray(at, end) }, end };
}

/** Decode a buffer that must be exactly one TLV, nothing before or after it. */
export function decodeOne(buffer: Buffer): Tlv {
  const { tlv, end } = decodeTlv(buffer, 0);
  if (end !== buffer.length) throw new BerError(`${buffer.length - end} bytes trail the TLV`);
  return tlv;
}

/** Decode the contents of a constructed TLV into its elements, which must fill it exactly. */
export function decodeChildren(tlv: Tlv): Tlv[] {
  const children: Tlv[] = [];
  for (let offset = 0; offset < tlv.contents.length;) {
    const { tlv: child, end } = decodeTlv(tlv.contents, offset);
    children.push(child);
    offset = end;
  }
  return children;
}

/** Decode the elements of a constructed TLV with the given tag; `what` names it in the error. */
export function decodeConstructed(tlv: Tlv | undefined, tag: number, what: string): Tlv[] {
  return decodeChildren(expectTag(tlv, tag, what));
}

/** The TLV, when it has the expected tag; throws BerError naming `what` otherwise. */
export function expectTag(tlv: Tlv | undefined, tag: number, what: string): Tlv {
  if (!tlv) throw new BerError(`${what} is missing`);
  if (tlv.tag !== tag) throw new BerError(`${what} has tag 0x${hexByte(tlv.tag)}, expected 0x${hexByte(tag)}`);
  return tlv;
}

/** The value of an INTEGER (two's complement). */
export function decodeInteger(tlv: Tlv): bigint {
  const bytes = integerBytes(tlv);
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  if ((bytes[0]! & 0x80) !== 0) value -= 1n << BigInt(bytes.length * 8);
  return value;
}

/** The value of an unsigned application integer (Counter32, Gauge32, TimeTicks, Counter64): agents may drop the sign octet. */
export function decodeUnsigned(tlv: Tlv): bigint {
  let value = 0n;
  for (const byte of integerBytes(tlv)) value = (value << 8n) | BigInt(byte);
  return value;
}

/** An INTEGER as a JavaScript number, when it lies within [min, max]; throws BerError naming `what` otherwise. */
export function decodeSmallInteger(tlv: Tlv | undefined, what: string, min: number, max: number): number {
  const value = decodeInteger(expectTag(tlv, TAG.integer, what));
  if (value < BigInt(min) || value > BigInt(max)) throw new BerError(`${what} is ${value}, outside ${min}..${max}`);
  return Number(value);
}

function integerBytes(tlv: Tlv): Buffer {
  if (tlv.contents.length === 0) throw new BerError('an integer has no content octets');
  if (tlv.contents.length > MAX_INTEGER_BYTES)
    throw new BerError(`an integer of ${tlv.contents.length} octets is too long`);
  return tlv.contents;
}

/** The dotted form of an OBJECT IDENTIFIER's contents. */
export function decodeOid(tlv: Tlv): string {
  const { contents } = tlv;
  if (contents.length === 0) throw new BerError('an OID has no content octets');
  const values: number[] = [];
  let value = 0;
  let fresh = true;
  for (const byte of contents) {
    // X.690 8.19.2: a sub-identifier is in the fewest octets, so it never starts with 0x80.
    if (fresh && byte === 0x80) throw new BerError('an OID sub-identifier has a redundant leading octet');
    value = value * 128 + (byte & 0x7f);
    if (value > MAX_ARC + 80) throw new BerError('an OID sub-identifier is too large');
    fresh = (byte & 0x80) === 0;
    if (fresh) {
      values.push(value);
      value = 0;
    }
  }
  if (!fresh) throw new BerError('an OID ends inside a sub-identifier');
  // The first sub-identifier holds two arcs (40 * first + second), so it has 80 more room.
  const [head, ...rest] = values as [number, ...number[]];
  if (rest.some((arc) => arc > MAX_ARC)) throw new BerError('an OID sub-identifier is too large');
  if (rest.length + 2 > MAX_OID_ARCS) throw new BerError('an OID has too many arcs');
  const first = head < 40 ? 0 : head < 80 ? 1 : 2;
  return [first, head - first * 40, ...rest].join('.');
}

function hexByte(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}
