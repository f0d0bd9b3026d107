import type { ProbeResult, Summary, Verdict } from '../core/result.js';
import { formatMs } from '../core/duration.js';
import { formatEndpoint } from '../net/target.js';

/** The terminal colour of each verdict, and the code that ends it. */
export const COLOURS: Record<Verdict, string> = {
  pass: '\x1b[32m',
  fail: '\x1b[31m',
  inconclusive: '\x1b[33m',
  error: '\x1b[35m',
};
export const RESET = '\x1b[0m';

/** Where a result points, as a user would write it: `tg.test 198.51.100.10:5900/tcp`. */
export function describeTarget(result: ProbeResult): string {
  const { host, address, port, protocol } = result.target;
  const endpoint = address === null ? `${host}${port === null ? '' : `:${port}`}` : formatEndpoint(address, port);
  const named = address !== null && host !== address ? `${host} ` : '';
  return `${named}${endpoint}/${protocol}`;
}

/** One human line per result: verdict, state, target, rtt, reason. */
export function formatResultLine(result: ProbeResult, colour: boolean): string {
  const verdict = result.verdict.toUpperCase().padEnd(12);
  const shown = colour ? `${COLOURS[result.verdict]}${verdict}${RESET}` : verdict;
  const rtt = result.rtt_ms === undefined ? '-' : formatMs(result.rtt_ms);
  return `${shown}${result.state.padEnd(12)}${result.kind} ${describeTarget(result).padEnd(28)} ${rtt.padStart(8)}  ${result.reason}`;
}

/** The closing line: how many probes, and their verdicts. */
export function formatSummary(summary: Summary, count: number): string {
  const { pass, fail, inconclusive, error } = summary;
  const parts = [`${pass} pass`, `${fail} fail`];
  if (inconclusive > 0) parts.push(`${inconclusive} inconclusive`);
  if (error > 0) parts.push(`${error} error`);
  return `${count} ${count === 1 ? 'probe' : 'probes'}: ${parts.join(', ')}`;
}
