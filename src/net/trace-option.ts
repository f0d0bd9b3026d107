import type { ProbeSpec } from '../core/probe-kind.js';
import { UsageError } from '../core/usage-error.js';

// The `trace` option apart from the tracer (trace.ts): a kind reads it without loading raw sockets and crypto.

/** When a probe traces its path: always, only when it fails or is blocked, or never. */
export type TraceMode = 'on' | 'on-fail' | 'off';

/** The `trace` option of a kind: `--trace` (on), or a profile's `trace: on | on-fail | off`. */
export function traceOption(raw: Record<string, unknown>): TraceMode | undefined {
  const value = raw.trace;
  if (value === undefined) return undefined;
  if (value === true) return 'on';
  if (value === false) return 'off';
  if (value === 'on' || value === 'on-fail' || value === 'off') return value;
  throw new UsageError(`Expected the \`trace\` option to be on, on-fail or off, got \`${String(value)}\``);
}

/** The `trace` option as the command line shows it; profiles also take on-fail and off. */
export const TRACE_CLI_OPTION = {
  type: 'boolean',
  describe:
    'Trace where the path dies: probes of the same protocol and port with TTL 1, 2, ... name each router that ' +
    'forwarded, and the hop that dropped or rejected (profile: trace: on | on-fail | off; on-fail, tracing rows whose ' +
    'verdict is not pass, is the default of profile rows, sweeps excepted; needs CAP_NET_RAW)',
} as const;

/** A probe's trace mode: its own, else on-fail for a profile's rows (sweeps excepted), off on the command line. */
export function traceModeOf(spec: Pick<ProbeSpec<{ trace?: TraceMode }>, 'options' | 'row' | 'sweep'>): TraceMode {
  return spec.options.trace ?? (spec.row !== undefined && !spec.sweep ? 'on-fail' : 'off');
}
