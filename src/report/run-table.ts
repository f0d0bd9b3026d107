import type { ProbeResult, RunReport } from '../core/result.js';
import { formatResultLine, formatSummary } from './table.js';
import { groupByRow } from '../core/rows.js';
import { portRanges } from './rows.js';

/** Results alike enough to be shown as one line: same row, kind, address, expectation, state and verdict. */
const COLLAPSE_AT = 4;

/** The human matrix of one run: a block per row, many alike results of a sweep on one line. */
export function formatRunTable(report: RunReport, colour: boolean): string {
  const lines: string[] = [];
  const profile = report.profile ? `${report.profile.name} (sha256 ${report.profile.hash.slice(0, 12)})` : '-';
  lines.push(`site ${report.site ?? '-'} · role ${report.role ?? '-'} · agent ${report.agent} · profile ${profile}`);
  for (const [row, results] of groupByRow(report.results)) {
    const failed = results.filter((result) => result.verdict !== 'pass').length;
    lines.push(
      '',
      `${row}  (${results.length} ${results.length === 1 ? 'probe' : 'probes'}${failed ? `, ${failed} not passed` : ''})`,
    );
    for (const line of collapse(results, colour)) lines.push(`  ${line}`);
  }
  if (report.overlaps?.length) {
    lines.push('', 'probed once where rows overlap:');
    for (const overlap of report.overlaps)
      lines.push(`  ${overlap.target}:${overlap.port ?? '-'}/${overlap.protocol}: ${overlap.reason}`);
  }
  if (report.not_proven?.length) {
    lines.push('', 'not proven by this run:');
    for (const entry of report.not_proven) lines.push(`  ${entry.row}: ${entry.text}`);
  }
  lines.push('', formatSummary(report.summary, report.results.length));
  return `${lines.join('\n')}\n`;
}

function collapse(results: readonly ProbeResult[], colour: boolean): string[] {
  const groups = new Map<string, ProbeResult[]>();
  for (const result of results) {
    const key = [
      result.kind,
      result.target.host,
      result.target.address,
      result.target.protocol,
      result.expect,
      result.state,
      result.verdict,
    ].join('|');
    let group = groups.get(key);
    if (!group) groups.set(key, (group = []));
    group.push(result);
  }
  const lines: string[] = [];
  for (const group of groups.values()) {
    if (group.length < COLLAPSE_AT || group.some((result) => result.target.port === null)) {
      lines.push(...group.map((result) => `${formatResultLine(result, colour)}${extras(result)}`));
      continue;
    }
    const first = group[0]!;
    const ports = portRanges(group.map((result) => result.target.port as number));
    const summary = { ...first, target: { ...first.target, port: null } };
    lines.push(`${formatResultLine(summary, colour)} [${group.length} ports: ${ports}]${extras(first)}`);
  }
  return lines;
}

function extras(result: ProbeResult): string {
  return result.control ? ` (control: ${result.control})` : '';
}
