import { randomInt } from 'node:crypto';
import type { ProbeContext, ProbeKind, ResolvedProbeSpec } from '../src/core/probe-kind.js';
import type { Check, Observation } from '../src/core/result.js';
import { answeredWith, silentAfter } from '../src/core/observation.js';
import { UsageError } from '../src/core/usage-error.js';
import { formatMs } from '../src/core/duration.js';
import { flag, optionalString } from '../src/core/option-values.js';
import { exchangeWithTarget, type UdpCodec } from '../src/net/udp-exchange.js';
import { observeWithTrace, TRACE_CLI_OPTION, traceOption, type TraceMode } from '../src/net/trace.js';
import { failureObservation } from '../src/net/classify.js';
import {
  BerError,
  TAG,
  decodeChildren,
  decodeConstructed,
  decodeInteger,
  decodeOid,
  decodeOne,
  decodeSmallInteger,
  decodeUnsigned,
  encodeInteger,
  encodeNull,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeTlv,
  expectTag,
  isBerError,
  parseOid,
  type Tlv,
} from '../src/net/ber.js';

/** The SNMP versions the probe speaks. */
export type SnmpVersion = 'v1' | 'v2c' | 'v3';

/** Options of the snmp probe. */
export interface SnmpOptions {
  version: SnmpVersion;
  /** The community of a v1/v2c request (v3 discovery carries none). */
  community: string;
  /** OIDs to get, dotted (v1/v2c). */
  oids: string[];
  /** Trace where the path dies, with the probe's own request (see src/net/trace.ts). */
  trace?: TraceMode;
}

/** One variable binding of a response, its value as text. */
export interface Varbind {
  oid: string;
  /** net-snmp's names: INTEGER, STRING, Hex-STRING, OID, IpAddress, Counter32, Gauge32, Timeticks, Counter64, ... */
  type: string;
  value: string;
}

/** A v1/v2c GetResponse. */
export interface SnmpResponse {
  errorStatus: number;
  errorIndex: number;
  varbinds: Varbind[];
}

/** A v3 Report answering engine discovery, with the agent's USM security parameters. */
export interface SnmpReport {
  engineId: Buffer;
  engineBoots: number;
  engineTime: number;
  varbinds: Varbind[];
}

const PDU = { getRequest: 0xa0, getResponse: 0xa2, report: 0xa8 } as const;
const APPLICATION = {
  ipAddress: 0x40,
  counter32: 0x41,
  gauge32: 0x42,
  timeTicks: 0x43,
  opaque: 0x44,
  counter64: 0x46,
} as const;
// SNMPv2 exceptions (RFC 3416): context-tagged NULLs in place of a value.
const EXCEPTIONS: Record<number, string> = { 0x80: 'noSuchObject', 0x81: 'noSuchInstance', 0x82: 'endOfMibView' };
const VERSION_NUMBER: Record<SnmpVersion, number> = { v1: 0, v2c: 1, v3: 3 };
const SECURITY_MODEL_USM = 3;
// msgFlags: reportable, no authentication, no privacy (RFC 3412 section 6.4).
const FLAGS_REPORTABLE = 0x04;
const MAX_MESSAGE_SIZE = 65507;
const MAX_INT32 = 2 ** 31 - 1;

/** RFC 3416 error-status names, by number. */
export const ERROR_STATUS = [
  'noError',
  'tooBig',
  'noSuchName',
  'badValue',
  'readOnly',
  'genErr',
  'noAccess',
  'wrongType',
  'wrongLength',
  'wrongEncoding',
  'wrongValue',
  'noCreation',
  'inconsistentValue',
  'resourceUnavailable',
  'commitFailed',
  'undoFailed',
  'authorizationError',
  'notWritable',
  'inconsistentName',
];

// The names a technician knows these OIDs by; `--oid` takes them too.
const OID_NAMES: Record<string, string> = {
  '1.3.6.1.2.1.1.1': 'sysDescr',
  '1.3.6.1.2.1.1.2': 'sysObjectID',
  '1.3.6.1.2.1.1.3': 'sysUpTime',
  '1.3.6.1.2.1.1.4': 'sysContact',
  '1.3.6.1.2.1.1.5': 'sysName',
  '1.3.6.1.2.1.1.6': 'sysLocation',
  '1.3.6.1.6.3.15.1.1.1': 'usmStatsUnsupportedSecLevels',
  '1.3.6.1.6.3.15.1.1.2': 'usmStatsNotInTimeWindows',
  '1.3.6.1.6.3.15.1.1.3': 'usmStatsUnknownUserNames',
  '1.3.6.1.6.3.15.1.1.4': 'usmStatsUnknownEngineIDs',
  '1.3.6.1.6.3.15.1.1.5': 'usmStatsWrongDigests',
  '1.3.6.1.6.3.15.1.1.6': 'usmStatsDecryptionErrors',
};
const SYS_DESCR = '1.3.6.1.2.1.1.1.0';

/** SNMP GetRequest (v2c, or v1) with a community, or the SNMPv3 engine discovery; open only on a matching answer. */
export const snmp: ProbeKind<SnmpOptions> = {
  name: 'snmp',
  summary:
    'SNMP v2c/v1 GetRequest (default sysDescr.0) or v3 engine discovery; open only on a matching answer; error-status fails the check',
  protocol: 'udp',
  defaultPort: 161,
  defaultAttempts: 3,
  cliOptions: {
    community: { type: 'string', describe: 'Community of the v2c/v1 request (default: public)', requiresArg: true },
    oid: {
      type: 'string',
      describe: 'OID to get, numeric (1.3.6.1.2.1.1.5.0) or sysDescr.0-style; repeatable (default: sysDescr.0)',
      requiresArg: true,
    },
    v1: { type: 'boolean', describe: 'Speak SNMPv1 instead of v2c' },
    v3: {
      type: 'boolean',
      describe: 'Send the SNMPv3 engine-discovery request: an agent answers it without credentials',
    },
    trace: TRACE_CLI_OPTION,
  },
  examples: [
    ['reachgate probe snmp 198.51.100.10 --community public', 'does the agent answer, and what is its sysDescr?'],
    ['reachgate probe snmp 198.51.100.10 --oid sysName.0 --oid 1.3.6.1.2.1.1.3.0', 'get the name and uptime'],
    ['reachgate probe snmp 198.51.100.10 --v3', 'is an SNMPv3 agent there? (no credentials needed)'],
  ],
  parseOptions,
  observe,
};

export default snmp;

function parseOptions(raw: Record<string, unknown>): SnmpOptions {
  const v1 = flag(raw, 'v1');
  const v3 = flag(raw, 'v3');
  if (v1 && v3)
    throw new UsageError('Use either `--v1` or `--v3`, not both', 'Without either, the probe speaks SNMPv2c');
  const community = optionalString(raw, 'community');
  const oids = oidOption(raw.oid);
  if (v3 && community !== undefined)
    throw new UsageError('`--community` does not apply to `--v3`: the engine-discovery request carries no community');
  if (v3 && oids.length > 0)
    throw new UsageError('`--oid` does not apply to `--v3`: the engine-discovery request gets no values');
  return {
    version: v1 ? 'v1' : v3 ? 'v3' : 'v2c',
    community: community ?? 'public',
    oids: oids.length > 0 ? oids : [SYS_DESCR],
    ...traced(raw),
  };
}

function oidOption(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const texts = Array.isArray(value) ? value : [value];
  return texts.map((text) => {
    if (typeof text !== 'string' || text === '') {
      throw new UsageError(
        `Expected the \`--oid\` option to be an OID like 1.3.6.1.2.1.1.1.0 or sysDescr.0, got \`${String(text)}\` (${typeof text})`,
      );
    }
    const dotted = resolveOidName(text);
    try {
      return parseOid(dotted).join('.');
    } catch (error) {
      throw new UsageError(
        `Expected the \`--oid\` option to be an OID like 1.3.6.1.2.1.1.1.0 or sysDescr.0, got \`${text}\`: ${(error as Error).message}`,
      );
    }
  });
}

function resolveOidName(text: string): string {
  const match = /^([A-Za-z][A-Za-z0-9]*)((?:\.\d+)*)$/.exec(text);
  if (!match) return text;
  const prefix = Object.entries(OID_NAMES).find(([, name]) => name === match[1])?.[0];
  if (!prefix)
    throw new UsageError(
      `Unknown OID name \`${match[1]}\` in the \`--oid\` option`,
      `Give the OID in numeric form, e.g. 1.3.6.1.2.1.1.5.0; known names: ${Object.values(OID_NAMES).slice(0, 6).join(', ')}`,
    );
  return `${prefix}${match[2]}`;
}

/** An OID with its well-known name when there is one: 1.3.6.1.2.1.1.1.0 reads sysDescr.0. */
export function oidLabel(oid: string): string {
  for (const [prefix, name] of Object.entries(OID_NAMES)) {
    if (oid === prefix) return name;
    if (oid.startsWith(`${prefix}.`)) return `${name}${oid.slice(prefix.length)}`;
  }
  return oid;
}

function traced(raw: Record<string, unknown>): Pick<SnmpOptions, 'trace'> {
  const trace = traceOption(raw);
  return trace ? { trace } : {};
}

function observe(spec: ResolvedProbeSpec<SnmpOptions>, context: ProbeContext): Promise<Observation> {
  const { options } = spec;
  const request = (): Buffer => (options.version === 'v3' ? discoveryCodec() : getCodec(options)).request(0);
  return observeWithTrace(spec, context, { protocol: 'udp', payload: request }, () => observeAgent(spec, context));
}

async function observeAgent(spec: ResolvedProbeSpec<SnmpOptions>, context: ProbeContext): Promise<Observation> {
  const { version } = spec.options;
  const outcome =
    version === 'v3'
      ? await exchangeWithTarget(spec, context, discoveryCodec())
      : await exchangeWithTarget(spec, context, getCodec(spec.options));
  if (outcome.kind === 'failed') {
    return failureObservation(outcome, outcome.attempts, context.icmpNote, 'udp');
  }
  if (outcome.kind === 'silent') {
    const note =
      version === 'v3'
        ? 'an agent that speaks only v1/v2c drops an SNMPv3 request silently, so this may be such an agent rather than a filter'
        : 'SNMP agents silently drop a request with a wrong community, so this may be a wrong --community rather than a filter';
    return silentAfter(spec.timeoutMs, outcome.attempts, { meaning: `silently dropped; note: ${note}` });
  }
  const { check, evidence } =
    'engineId' in outcome.reply ? reportResult(outcome.reply) : responseResult(outcome.reply, version);
  const head = `SNMP${version} agent answered in ${formatMs(outcome.rttMs)}`;
  return answeredWith(head, [check], { rtt_ms: outcome.rttMs, attempts: outcome.attempts, evidence });
}

function responseResult(
  response: SnmpResponse,
  version: SnmpVersion,
): { check: Check; evidence: Record<string, unknown> } {
  const evidence: Record<string, unknown> = { version, varbinds: response.varbinds };
  if (response.errorStatus !== 0) {
    const name = ERROR_STATUS[response.errorStatus] ?? 'unknown';
    const culprit = response.varbinds[response.errorIndex - 1];
    return {
      check: {
        ok: false,
        detail: `error-status ${name} (${response.errorStatus}) at index ${response.errorIndex}${culprit ? ` (${oidLabel(culprit.oid)})` : ''}`,
      },
      evidence: { ...evidence, error_status: name, error_index: response.errorIndex },
    };
  }
  // An exception answers for the agent but not for the value asked for: as v1's noSuchName does, it fails the check.
  const missing = response.varbinds.filter((varbind) => Object.values(EXCEPTIONS).includes(varbind.type));
  if (missing.length > 0) {
    return {
      check: { ok: false, detail: missing.map((varbind) => `${oidLabel(varbind.oid)}: ${varbind.type}`).join('; ') },
      evidence,
    };
  }
  if (response.varbinds.length === 0)
    return { check: { ok: false, detail: 'the response carries no values' }, evidence };
  return { check: { ok: true, detail: response.varbinds.map(showVarbind).join('; ') }, evidence };
}

function reportResult(report: SnmpReport): { check: Check; evidence: Record<string, unknown> } {
  const engineId = report.engineId.toString('hex');
  const reported = report.varbinds.map(showVarbind).join('; ');
  return {
    check: {
      ok: true,
      detail: `engine id ${engineId || '(empty)'}, boots ${report.engineBoots}, time ${report.engineTime} s (report: ${reported || 'no values'})`,
    },
    evidence: {
      version: 'v3',
      engine_id: engineId,
      engine_boots: report.engineBoots,
      engine_time: report.engineTime,
      report: report.varbinds,
    },
  };
}

function showVarbind(varbind: Varbind): string {
  const value = varbind.type === 'STRING' ? JSON.stringify(shorten(varbind.value)) : shorten(varbind.value);
  return `${oidLabel(varbind.oid)} = ${varbind.type}: ${value}`;
}

function shorten(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}...` : text;
}

/** The v1/v2c codec: a GetRequest with a fresh request id per attempt; only a GetResponse echoing one, with our version and community, is an answer. */
export function getCodec(options: Pick<SnmpOptions, 'version' | 'community' | 'oids'>): UdpCodec<SnmpResponse> {
  const ids: number[] = [];
  const version = VERSION_NUMBER[options.version];
  const community = Buffer.from(options.community, 'utf8');
  return {
    request(attempt) {
      ids[attempt] = randomInt(1, MAX_INT32);
      return encodeSequence(
        encodeInteger(version),
        encodeOctetString(community),
        encodePdu(PDU.getRequest, ids[attempt]!, options.oids),
      );
    },
    accept(datagram) {
      const message = decodeOrUndefined(() => decodeCommunityMessage(datagram));
      if (
        !message ||
        message.version !== version ||
        !message.community.equals(community) ||
        message.pduTag !== PDU.getResponse
      )
        return undefined;
      const attempt = ids.indexOf(message.requestId);
      return attempt < 0 ? undefined : { reply: message.response, attempt };
    },
  };
}

/** The v3 codec: an unauthenticated, reportable GetRequest with an empty user and engine id, which an agent answers with a Report. */
export function discoveryCodec(): UdpCodec<SnmpReport> {
  const messageIds: number[] = [];
  const requestIds: number[] = [];
  return {
    request(attempt) {
      messageIds[attempt] = randomInt(1, MAX_INT32);
      requestIds[attempt] = randomInt(1, MAX_INT32);
      const usm = encodeSequence(
        encodeOctetString(''),
        encodeInteger(0),
        encodeInteger(0),
        encodeOctetString(''),
        encodeOctetString(''),
        encodeOctetString(''),
      );
      return encodeSequence(
        encodeInteger(VERSION_NUMBER.v3),
        encodeSequence(
          encodeInteger(messageIds[attempt]!),
          encodeInteger(MAX_MESSAGE_SIZE),
          encodeOctetString(Buffer.from([FLAGS_REPORTABLE])),
          encodeInteger(SECURITY_MODEL_USM),
        ),
        encodeOctetString(usm),
        encodeSequence(
          encodeOctetString(''),
          encodeOctetString(''),
          encodePdu(PDU.getRequest, requestIds[attempt]!, []),
        ),
      );
    },
    accept(datagram) {
      const message = decodeOrUndefined(() => decodeV3Message(datagram));
      if (!message || message.pduTag !== PDU.report) return undefined;
      const attempt = messageIds.indexOf(message.messageId);
      // RFC 3412 section 7.1: a Report carries the request's request-id when the agent could read it, else 0.
      if (attempt < 0 || (message.requestId !== requestIds[attempt] && message.requestId !== 0)) return undefined;
      return { reply: message.report, attempt };
    },
  };
}

function encodePdu(tag: number, requestId: number, oids: string[]): Buffer {
  return encodeTlv(
    tag,
    encodeInteger(requestId),
    encodeInteger(0),
    encodeInteger(0),
    encodeSequence(...oids.map((oid) => encodeSequence(encodeOid(oid), encodeNull()))),
  );
}

function decodeOrUndefined<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch (error) {
    if (isBerError(error)) return undefined;
    throw error;
  }
}

interface DecodedPdu {
  pduTag: number;
  requestId: number;
  errorStatus: number;
  errorIndex: number;
  varbinds: Varbind[];
}

/** Decode a v1/v2c message; throws BerError for anything that is not one. */
export function decodeCommunityMessage(datagram: Buffer): {
  version: number;
  community: Buffer;
  requestId: number;
  pduTag: number;
  response: SnmpResponse;
} {
  const [version, community, pdu, ...extra] = decodeConstructed(decodeOne(datagram), TAG.sequence, 'the message');
  if (extra.length > 0) throw new BerError('the message has extra elements');
  const decoded = decodePdu(pdu);
  return {
    version: decodeSmallInteger(version, 'the version', 0, 1),
    community: expectTag(community, TAG.octetString, 'the community').contents,
    requestId: decoded.requestId,
    pduTag: decoded.pduTag,
    response: { errorStatus: decoded.errorStatus, errorIndex: decoded.errorIndex, varbinds: decoded.varbinds },
  };
}

/** Decode a v3 message with a plaintext scoped PDU; throws BerError for anything else. */
export function decodeV3Message(datagram: Buffer): {
  messageId: number;
  requestId: number;
  pduTag: number;
  report: SnmpReport;
} {
  const [version, header, securityParameters, scoped, ...extra] = decodeConstructed(
    decodeOne(datagram),
    TAG.sequence,
    'the message',
  );
  if (extra.length > 0) throw new BerError('the message has extra elements');
  if (decodeSmallInteger(version, 'the version', 0, MAX_INT32) !== VERSION_NUMBER.v3)
    throw new BerError('not an SNMPv3 message');
  const [messageId, maxSize, flags, securityModel] = decodeConstructed(header, TAG.sequence, 'the header');
  decodeSmallInteger(maxSize, 'msgMaxSize', 484, MAX_INT32);
  if (expectTag(flags, TAG.octetString, 'msgFlags').contents.length !== 1)
    throw new BerError('msgFlags is not one octet');
  if (decodeSmallInteger(securityModel, 'msgSecurityModel', 0, MAX_INT32) !== SECURITY_MODEL_USM)
    throw new BerError('not the user-based security model');
  const usm = decodeConstructed(
    decodeOne(expectTag(securityParameters, TAG.octetString, 'msgSecurityParameters').contents),
    TAG.sequence,
    'the USM parameters',
  );
  if (usm.length !== 6) throw new BerError('the USM parameters do not have six elements');
  // An encrypted scoped PDU is an OCTET STRING, which expectTag refuses: discovery answers are plaintext.
  const [, , pdu] = decodeConstructed(scoped, TAG.sequence, 'the scoped PDU');
  const decoded = decodePdu(pdu);
  return {
    messageId: decodeSmallInteger(messageId, 'msgID', 0, MAX_INT32),
    requestId: decoded.requestId,
    pduTag: decoded.pduTag,
    report: {
      engineId: expectTag(usm[0], TAG.octetString, 'msgAuthoritativeEngineID').contents,
      engineBoots: decodeSmallInteger(usm[1], 'msgAuthoritativeEngineBoots', 0, MAX_INT32),
      engineTime: decodeSmallInteger(usm[2], 'msgAuthoritativeEngineTime', 0, MAX_INT32),
      varbinds: decoded.varbinds,
    },
  };
}

function decodePdu(pdu: Tlv | undefined): DecodedPdu {
  if (!pdu || (pdu.tag & 0xe0) !== 0xa0) throw new BerError('the PDU is missing or not context-tagged');
  const [requestId, errorStatus, errorIndex, list, ...extra] = decodeChildren(pdu);
  if (extra.length > 0) throw new BerError('the PDU has extra elements');
  return {
    pduTag: pdu.tag,
    requestId: decodeSmallInteger(requestId, 'the request-id', -MAX_INT32 - 1, MAX_INT32),
    errorStatus: decodeSmallInteger(errorStatus, 'the error-status', 0, MAX_INT32),
    errorIndex: decodeSmallInteger(errorIndex, 'the error-index', 0, MAX_INT32),
    varbinds: decodeConstructed(list, TAG.sequence, 'the variable bindings').map((binding) => {
      const [name, value, ...more] = decodeConstructed(binding, TAG.sequence, 'a variable binding');
      if (!value || more.length > 0) throw new BerError('a variable binding is not a name and a value');
      return { oid: decodeOid(expectTag(name, TAG.oid, 'a variable name')), ...showValue(value) };
    }),
  };
}

/** A value as net-snmp would name its type, and as text: OCTET STRING as text when printable, else hex. */
export function showValue(value: Tlv): { type: string; value: string } {
  const exception = EXCEPTIONS[value.tag];
  if (exception) return { type: exception, value: '' };
  switch (value.tag) {
    case TAG.integer:
      return { type: 'INTEGER', value: decodeInteger(value).toString() };
    case TAG.octetString:
      return printable(value.contents)
        ? { type: 'STRING', value: value.contents.toString('utf8') }
        : { type: 'Hex-STRING', value: hex(value.contents) };
    case TAG.null:
      return { type: 'NULL', value: '' };
    case TAG.oid:
      return { type: 'OID', value: decodeOid(value) };
    case APPLICATION.ipAddress:
      if (value.contents.length !== 4) throw new BerError('an IpAddress is not four octets');
      return { type: 'IpAddress', value: [...value.contents].join('.') };
    case APPLICATION.counter32:
      return { type: 'Counter32', value: decodeUnsigned(value).toString() };
    case APPLICATION.gauge32:
      return { type: 'Gauge32', value: decodeUnsigned(value).toString() };
    case APPLICATION.timeTicks:
      return { type: 'Timeticks', value: timeTicks(decodeUnsigned(value)) };
    case APPLICATION.counter64:
      return { type: 'Counter64', value: decodeUnsigned(value).toString() };
    case APPLICATION.opaque:
      return { type: 'Opaque', value: hex(value.contents) };
    default:
      return { type: `tag 0x${value.tag.toString(16).padStart(2, '0')}`, value: hex(value.contents) };
  }
}

function printable(bytes: Buffer): boolean {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return false;
  }
  // Tabs and line breaks are fine in a sysDescr; other control characters mean binary data.
  return !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text);
}

function hex(bytes: Buffer): string {
  return [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join(' ');
}

/** Hundredths of a second, with the d:hh:mm:ss.cc form beside them. */
function timeTicks(ticks: bigint): string {
  const total = Number(ticks);
  const hundredths = total % 100;
  const seconds = Math.floor(total / 100);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const [days, hours, minutes] = [
    Math.floor(seconds / 86400),
    Math.floor(seconds / 3600) % 24,
    Math.floor(seconds / 60) % 60,
  ];
  const clock = `${days}:${pad(hours)}:${pad(minutes)}:${pad(seconds % 60)}.${pad(hundredths)}`;
  return `${total} (${clock})`;
}
