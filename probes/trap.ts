import { randomInt } from 'node:crypto';
import { uptime } from 'node:os';
import type { ProbeContext, ProbeKind, ResolvedProbeSpec } from '../src/core/probe-kind.js';
import type { Observation } from '../src/core/result.js';
import { newNonce } from '../src/core/receipt.js';
import { optionalString } from '../src/core/option-values.js';
import { UsageError } from '../src/core/usage-error.js';
import { encodeInteger, encodeOctetString, encodeOid, encodeSequence, encodeTlv } from '../src/net/ber.js';
import { CONFIRM_OPTIONS, parseConfirmWith, type ConfirmWith } from '../src/net/confirm.js';
import { sendWithNonce } from '../src/net/one-way.js';
import { observeWithTrace, TRACE_CLI_OPTION, traceOption, type TraceMode } from '../src/net/trace.js';

/** Options of the trap probe. */
export interface TrapOptions {
  community: string;
  /** Ask a responder whether the trap arrived (its nonce seen on the far side). */
  confirm?: ConfirmWith;
  /** Trace where the path dies with a trap like the probe's own (see src/net/trace.ts). */
  trace?: TraceMode;
}

// RFC 3416 SNMPv2-Trap-PDU; sysUpTime.0 and snmpTrapOID.0 come first in every v2 trap (RFC 3416 section 4.2.6).
const TRAP_PDU = 0xa7;
const TIME_TICKS = 0x43;
const SYS_UPTIME = '1.3.6.1.2.1.1.3.0';
const SNMP_TRAP_OID = '1.3.6.1.6.3.1.1.4.1.0';
/** Under 32473, the enterprise number RFC 5612 reserves for documentation: reachgate's probe trap and its nonce. */
export const PROBE_TRAP_OID = '1.3.6.1.4.1.32473.1.0.1';
export const NONCE_OID = '1.3.6.1.4.1.32473.1.1.0';

/** An SNMPv2c trap carrying a nonce varbind: one-way, unanswered, provable only by a responder. */
export const trap: ProbeKind<TrapOptions> = {
  name: 'trap',
  summary: 'SNMPv2c trap with a nonce varbind (unanswered: filtered unless ICMP says closed, or a responder saw it)',
  protocol: 'udp',
  defaultPort: 162,
  // Another attempt only sends another trap: nothing answers one.
  defaultAttempts: 1,
  cliOptions: {
    community: { type: 'string', describe: 'Community of the trap (default: public)', requiresArg: true },
    ...CONFIRM_OPTIONS,
    trace: TRACE_CLI_OPTION,
  },
  examples: [
    [
      'reachgate probe trap 198.51.100.10 --confirm-with http://198.51.100.10:8514 --token-file responder.token',
      'did the trap reach the trap receiver? A responder beside snmptrapd saw its nonce, or did not',
    ],
  ],
  parseOptions(raw) {
    const community = optionalString(raw, 'community') ?? 'public';
    if (community.length > 255) throw new UsageError('Expected `--community` to be at most 255 characters');
    const confirm = parseConfirmWith(raw);
    const trace = traceOption(raw);
    return { community, ...(confirm ? { confirm } : {}), ...(trace ? { trace } : {}) };
  },
  observe,
};

export default trap;

function observe(spec: ResolvedProbeSpec<TrapOptions>, context: ProbeContext): Promise<Observation> {
  // Traced copies carry a nonce of their own: a receipt proves the probe's own trap, not a copy's.
  const what = {
    protocol: 'udp' as const,
    payload: () => trapMessage(spec.options.community, newNonce()),
    oneWay: spec.options.confirm ? ('confirmed' as const) : ('unconfirmed' as const),
  };
  return observeWithTrace(spec, context, what, () => observeTrap(spec, context));
}

async function observeTrap(spec: ResolvedProbeSpec<TrapOptions>, context: ProbeContext): Promise<Observation> {
  const nonce = newNonce();
  return sendWithNonce(spec, context, nonce, spec.options.confirm, {
    payload: trapMessage(spec.options.community, nonce),
    what: 'trap',
    evidence: { nonce },
    unanswered: 'a trap is never answered',
    lookFor: `look for ${nonce} in the trap receiver's log`,
  });
}

/** The trap: v2c, the community, sysUpTime.0, snmpTrapOID.0 = reachgate's probe trap, and the nonce. */
export function trapMessage(community: string, nonce: string): Buffer {
  const varbinds = encodeSequence(
    encodeSequence(encodeOid(SYS_UPTIME), encodeInteger(Math.floor(uptime() * 100) % 2 ** 32, TIME_TICKS)),
    encodeSequence(encodeOid(SNMP_TRAP_OID), encodeOid(PROBE_TRAP_OID)),
    encodeSequence(encodeOid(NONCE_OID), encodeOctetString(nonce)),
  );
  const pdu = encodeTlv(
    TRAP_PDU,
    encodeInteger(randomInt(1, 2 ** 31 - 1)),
    encodeInteger(0),
    encodeInteger(0),
    varbinds,
  );
  return encodeSequence(encodeInteger(1), encodeOctetString(community), pdu);
}
