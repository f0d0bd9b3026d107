// The few Kerberos V5 messages a reachability probe needs (RFC 4120 section 5): the AS-REQ it
// sends, and the KRB-ERROR or AS-REP a KDC answers with, in DER with Kerberos' explicit tags.

/** What goes into an AS-REQ. */
export interface AsRequest {
  /** Client principal name components, e.g. ['reachgate-probe']. */
  cname: string[];
  realm: string;
  nonce: number;
  /** Encryption types offered, most preferred first. */
  etypes: number[];
  /** End of the requested ticket lifetime. */
  till: Date;
}

/** A PrincipalName: components joined by '/' when shown. */
export interface PrincipalName {
  type: number;
  components: string[];
}

/** A KRB-ERROR (application 30) from a KDC. */
export interface KrbError {
  type: 'KRB-ERROR';
  code: number;
  /** The service realm the error is about. */
  realm: string;
  sname: PrincipalName;
  crealm?: string;
  cname?: PrincipalName;
  /** The KDC's clock. */
  stime: Date;
  etext?: string;
}

/** An AS-REP (application 11): the KDC issued a ticket; its enc-part is encrypted with the client's key. */
export interface AsReply {
  type: 'AS-REP';
  crealm: string;
  cname: PrincipalName;
  /** Realm and name of the ticket's service, from the cleartext part of the ticket. */
  ticketRealm: string;
  ticketSname: PrincipalName;
}

/** A KDC's answer. */
export type KdcReply = KrbError | AsReply;

/** Kerberos encryption types worth offering (RFC 3962, RFC 8009). */
export const ETYPES = {
  'aes256-cts-hmac-sha1-96': 18,
  'aes128-cts-hmac-sha1-96': 17,
  'aes256-cts-hmac-sha384-192': 20,
  'aes128-cts-hmac-sha256-128': 19,
} as const;

const NT_PRINCIPAL = 1;
const NT_SRV_INST = 2;
const PVNO = 5;
const AS_REQ = 10;
const AS_REP = 11;
const KRB_ERROR = 30;

/** Names of the error codes of RFC 4120 section 7.5.9 (and the PKINIT ones of RFC 4556). */
export const ERROR_NAMES: Readonly<Record<number, string>> = {
  0: 'KDC_ERR_NONE',
  1: 'KDC_ERR_NAME_EXP',
  2: 'KDC_ERR_SERVICE_EXP',
  3: 'KDC_ERR_BAD_PVNO',
  4: 'KDC_ERR_C_OLD_MAST_KVNO',
  5: 'KDC_ERR_S_OLD_MAST_KVNO',
  6: 'KDC_ERR_C_PRINCIPAL_UNKNOWN',
  7: 'KDC_ERR_S_PRINCIPAL_UNKNOWN',
  8: 'KDC_ERR_PRINCIPAL_NOT_UNIQUE',
  9: 'KDC_ERR_NULL_KEY',
  10: 'KDC_ERR_CANNOT_POSTDATE',
  11: 'KDC_ERR_NEVER_VALID',
  12: 'KDC_ERR_POLICY',
  13: 'KDC_ERR_BADOPTION',
  14: 'KDC_ERR_ETYPE_NOSUPP',
  15: 'KDC_ERR_SUMTYPE_NOSUPP',
  16: 'KDC_ERR_PADATA_TYPE_NOSUPP',
  17: 'KDC_ERR_TRTYPE_NOSUPP',
  18: 'KDC_ERR_CLIENT_REVOKED',
  19: 'KDC_ERR_SERVICE_REVOKED',
  20: 'KDC_ERR_TGT_REVOKED',
  21: 'KDC_ERR_CLIENT_NOTYET',
  22: 'KDC_ERR_SERVICE_NOTYET',
  23: 'KDC_ERR_KEY_EXPIRED',
  24: 'KDC_ERR_PREAUTH_FAILED',
  25: 'KDC_ERR_PREAUTH_REQUIRED',
  26: 'KDC_ERR_SERVER_NOMATCH',
  27: 'KDC_ERR_MUST_USE_USER2USER',
  28: 'KDC_ERR_PATH_NOT_ACCEPTED',
  29: 'KDC_ERR_SVC_UNAVAILABLE',
  31: 'KRB_AP_ERR_BAD_INTEGRITY',
  32: 'KRB_AP_ERR_TKT_EXPIRED',
  33: 'KRB_AP_ERR_TKT_NYV',
  34: 'KRB_AP_ERR_REPEAT',
  35: 'KRB_AP_ERR_NOT_US',
  36: 'KRB_AP_ERR_BADMATCH',
  37: 'KRB_AP_ERR_SKEW',
  38: 'KRB_AP_ERR_BADADDR',
  39: 'KRB_AP_ERR_BADVERSION',
  40: 'KRB_AP_ERR_MSG_TYPE',
  41: 'KRB_AP_ERR_MODIFIED',
  42: 'KRB_AP_ERR_BADORDER',
  44: 'KRB_AP_ERR_BADKEYVER',
  45: 'KRB_AP_ERR_NOKEY',
  46: 'KRB_AP_ERR_MUT_FAIL',
  47: 'KRB_AP_ERR_BADDIRECTION',
  48: 'KRB_AP_ERR_METHOD',
  49: 'KRB_AP_ERR_BADSEQ',
  50: 'KRB_AP_ERR_INAPP_CKSUM',
  51: 'KRB_AP_PATH_NOT_ACCEPTED',
  52: 'KRB_ERR_RESPONSE_TOO_BIG',
  60: 'KRB_ERR_GENERIC',
  61: 'KRB_ERR_FIELD_TOOLONG',
  62: 'KDC_ERROR_CLIENT_NOT_TRUSTED',
  63: 'KDC_ERROR_KDC_NOT_TRUSTED',
  64: 'KDC_ERROR_INVALID_SIG',
  65: 'KDC_ERR_KEY_TOO_WEAK',
  66: 'KDC_ERR_CERTIFICATE_MISMATCH',
  67: 'KRB_AP_ERR_NO_TGT',
  68: 'KDC_ERR_WRONG_REALM',
  69: 'KRB_AP_ERR_USER_TO_USER_REQUIRED',
  70: 'KDC_ERR_CANT_VERIFY_CERTIFICATE',
  71: 'KDC_ERR_INVALID_CERTIFICATE',
  72: 'KDC_ERR_REVOKED_CERTIFICATE',
  73: 'KDC_ERR_REVOCATION_STATUS_UNKNOWN',
  74: 'KDC_ERR_REVOCATION_STATUS_UNAVAILABLE',
  75: 'KDC_ERR_CLIENT_NAME_MISMATCH',
  76: 'KDC_ERR_KDC_NAME_MISMATCH',
};

/** The error code's name, or `error N` for one RFC 4120 does not name. */
export function errorName(code: number): string {
  return ERROR_NAMES[code] ?? `error ${code}`;
}

/** Encode an AS-REQ asking for a TGT (krbtgt/REALM) for the client, without pre-authentication. */
export function encodeAsRequest(request: AsRequest): Buffer {
  const body = sequence([
    // kdc-options: no flag set; a BIT STRING of 32 bits, no unused bits.
    field(0, tlv(0x03, Buffer.from([0, 0, 0, 0, 0]))),
    field(1, principal({ type: NT_PRINCIPAL, components: request.cname })),
    field(2, generalString(request.realm)),
    field(3, principal({ type: NT_SRV_INST, components: ['krbtgt', request.realm] })),
    field(5, kerberosTime(request.till)),
    field(7, integer(request.nonce)),
    field(8, sequence(request.etypes.map(integer))),
  ]);
  return tlv(0x60 | AS_REQ, sequence([field(1, integer(PVNO)), field(2, integer(AS_REQ)), field(4, body)]));
}

/** Decode a KDC's reply; undefined for anything that is not a well-formed KRB-ERROR or AS-REP. */
export function decodeKdcReply(bytes: Buffer): KdcReply | undefined {
  try {
    const outer = readTlv(bytes, 0);
    if (outer.end !== bytes.length) return undefined;
    if (outer.tag === (0x60 | KRB_ERROR)) return decodeError(outer.content);
    if (outer.tag === (0x60 | AS_REP)) return decodeAsReply(outer.content);
    return undefined;
  } catch {
    return undefined;
  }
}

/** The principal as text: components joined by '/', with the realm after '@' when given. */
export function showPrincipal(name: PrincipalName, realm?: string): string {
  return `${name.components.join('/')}${realm === undefined ? '' : `@${realm}`}`;
}

function decodeError(content: Buffer): KrbError | undefined {
  const fields = readFields(onlySequence(content));
  if (readInteger(need(fields, 0)) !== PVNO || readInteger(need(fields, 1)) !== KRB_ERROR) return undefined;
  const error: KrbError = {
    type: 'KRB-ERROR',
    code: readInteger(need(fields, 6)),
    stime: readTime(need(fields, 4)),
    realm: readString(need(fields, 9)),
    sname: readPrincipal(need(fields, 10)),
  };
  if (fields.has(7)) error.crealm = readString(fields.get(7)!);
  if (fields.has(8)) error.cname = readPrincipal(fields.get(8)!);
  if (fields.has(11)) error.etext = readString(fields.get(11)!);
  return error;
}

function decodeAsReply(content: Buffer): AsReply | undefined {
  const fields = readFields(onlySequence(content));
  if (readInteger(need(fields, 0)) !== PVNO || readInteger(need(fields, 1)) !== AS_REP) return undefined;
  // Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0], realm [1], sname [2], enc-part [3] }
  const ticket = readTlv(need(fields, 5), 0);
  if (ticket.tag !== 0x61) return undefined;
  const ticketFields = readFields(onlySequence(ticket.content));
  // The enc-part must be there, though only the client's key can read it.
  need(fields, 6);
  return {
    type: 'AS-REP',
    crealm: readString(need(fields, 3)),
    cname: readPrincipal(need(fields, 4)),
    ticketRealm: readString(need(ticketFields, 1)),
    ticketSname: readPrincipal(need(ticketFields, 2)),
  };
}

// DER, as far as Kerberos needs it: single-byte tags, definite lengths.

interface Tlv {
  tag: number;
  content: Buffer;
  end: number;
}

function readTlv(bytes: Buffer, at: number): Tlv {
  const tag = byteAt(bytes, at);
  let length = byteAt(bytes, at + 1);
  let start = at + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4) throw new Error('unsupported length');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + byteAt(bytes, start + i);
    start += octets;
  }
  const end = start + length;
  if (end > bytes.length) throw new Error('truncated');
  return { tag, content: bytes.subarray(start, end), end };
}

function byteAt(bytes: Buffer, at: number): number {
  const byte = bytes[at];
  if (byte === undefined) throw new Error('truncated');
  return byte;
}

function readAll(bytes: Buffer): Tlv[] {
  const items: Tlv[] = [];
  for (let at = 0; at < bytes.length;) {
    const item = readTlv(bytes, at);
    items.push(item);
    at = item.end;
  }
  return items;
}

function onlySequence(bytes: Buffer): Buffer {
  const sequenceTlv = readTlv(bytes, 0);
  if (sequenceTlv.tag !== 0x30 || sequenceTlv.end !== bytes.length) throw new Error('expected a SEQUENCE');
  return sequenceTlv.content;
}

/** The context-tagged fields [n] of a SEQUENCE, each as the bytes of the value inside the tag. */
function readFields(content: Buffer): Map<number, Buffer> {
  const fields = new Map<number, Buffer>();
  for (const item of readAll(content)) {
    if ((item.tag & 0xe0) !== 0xa0) throw new Error('expected a context tag');
    fields.set(item.tag & 0x1f, item.content);
  }
  return fields;
}

function need(fields: Map<number, Buffer>, tag: number): Buffer {
  const value = fields.get(tag);
  if (value === undefined) throw new Error(`missing field [${tag}]`);
  return value;
}

function readInteger(bytes: Buffer): number {
  const { tag, content } = readTlv(bytes, 0);
  if (tag !== 0x02 || content.length === 0 || content.length > 6) throw new Error('expected an INTEGER');
  return content.readIntBE(0, content.length);
}

function readString(bytes: Buffer): string {
  return stringOf(readTlv(bytes, 0));
}

function stringOf({ tag, content }: Tlv): string {
  // GeneralString, as KerberosString and Realm are; some KDCs send UTF8String or IA5String.
  if (tag !== 0x1b && tag !== 0x0c && tag !== 0x16) throw new Error('expected a string');
  return content.toString('utf8');
}

function readTime(bytes: Buffer): Date {
  const { tag, content } = readTlv(bytes, 0);
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(content.toString('latin1'));
  if (tag !== 0x18 || !match) throw new Error('expected a KerberosTime');
  const [, year, month, day, hour, minute, second] = match.map(Number);
  return new Date(Date.UTC(year!, month! - 1, day!, hour!, minute!, second!));
}

function readPrincipal(bytes: Buffer): PrincipalName {
  const fields = readFields(onlySequence(bytes));
  return {
    type: readInteger(need(fields, 0)),
    components: readAll(onlySequence(need(fields, 1))).map(stringOf),
  };
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const octets: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest & 0xff);
  return Buffer.from([0x80 | octets.length, ...octets]);
}

function field(tag: number, value: Buffer): Buffer {
  return tlv(0xa0 | tag, value);
}

function sequence(items: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

function integer(value: number): Buffer {
  // Minimal two's complement: a leading 0x00 keeps a value with the high bit set positive.
  const bytes: number[] = [];
  let rest = value;
  do {
    bytes.unshift(rest & 0xff);
    rest = Math.floor(rest / 256);
  } while (rest > 0);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return tlv(0x02, Buffer.from(bytes));
}

function generalString(text: string): Buffer {
  return tlv(0x1b, Buffer.from(text, 'utf8'));
}

function kerberosTime(date: Date): Buffer {
  return tlv(0x18, Buffer.from(`${date.toISOString().slice(0, 19).replace(/[-:T]/g, '')}Z`, 'latin1'));
}

function principal(name: PrincipalName): Buffer {
  return sequence([field(0, integer(name.type)), field(1, sequence(name.components.map(generalString)))]);
}
