import type { RunReport } from '../core/result.js';
import { describeTarget } from './table.js';

/** TAP 14: one test point per probe, the state and reason in a YAML diagnostic block. */
export function formatTap(report: RunReport): string {
  const out = ['TAP version 14', `1..${report.results.length}`];
  report.results.forEach((result, index) => {
    const ok = result.verdict === 'pass' ? 'ok' : 'not ok';
    const description =
      `${result.row ?? result.kind}: ${result.kind} ${describeTarget(result)} expect ${result.expect}`.replace(
        /#/g,
        '\\#',
      );
    out.push(`${ok} ${index + 1} - ${description}`);
    out.push('  ---');
    out.push(`  verdict: ${result.verdict}`);
    out.push(`  state: ${result.state}`);
    out.push(`  reason: ${JSON.stringify(result.reason)}`);
    if (result.rtt_ms !== undefined) out.push(`  rtt_ms: ${result.rtt_ms}`);
    if (result.icmp)
      out.push(
        `  icmp: { type: ${result.icmp.type}, code: ${result.icmp.code}, from: ${JSON.stringify(result.icmp.from)} }`,
      );
    if (result.control) out.push(`  control: ${result.control}`);
    out.push('  ...');
  });
  return `${out.join('\n')}\n`;
}
