import type { ProbeResult, RunReport } from '../core/result.js';
import { formatResultLine, formatSummary } from './table.js';
import { portRanges } from './rows.js';

/** Results alike enough to be shown as one line: same row, kind, address, expectation, state and verdict. */
const COLLAPSE_AT = 4;

/** What the table says of a run besides its results. */
export type RunTableHead = Pick<
  RunReport,
  'site' | 'role' | 'agent' | 'profile' | 'overlaps' | 'not_proven' | 'summary'
>;

/** The human matrix of one run: a block per row, many alike results of a sweep on one line. */
export function formatRunTable(report: RunReport, colour: boolean): string {
  const table = new RunTable();
  for (const result of report.results) table.add(result);
  return table.format(report, colour);
}

/** Alike results of one row: the first, how many, their ports, and all of them only while they may be listed. */
interface Alike {
  first: ProbeResult;
  count: number;
  ports: number[];
  /** Kept while the group may still be shown line by line (fewer than COLLAPSE_AT, or a result without a port). */
  members: ProbeResult[] | null;
}

interface RowBlock {
  count: number;
  failed: number;
  groups: Map<string, Alike>;
}

/**
 * The run table built result by result (in plan order), holding per row and group of alike results only what the
 * table shows: a sweep of 65,535 ports is a count, its first result and its port numbers.
 */
export class RunTable {
  readonly #rows = new Map<string, RowBlock>();
  #count = 0;

  add(result: ProbeResult): void {
    this.#count += 1;
    const name = result.row ?? '(no row)';
    let row = this.#rows.get(name);
    if (!row) this.#rows.set(name, (row = { count: 0, failed: 0, groups: new Map() }));
    row.count += 1;
    if (result.verdict !== 'pass') row.failed += 1;
    const key = [
      result.kind,
      result.target.host,
      result.target.address,
      result.target.protocol,
      result.expect,
      result.state,
      result.verdict,
    ].join('|');
    let group = row.groups.get(key);
    if (!group) row.groups.set(key, (group = { first: result, count: 0, ports: [], members: [] }));
    group.count += 1;
    const { port } = result.target;
    if (port !== null) group.ports.push(port);
    // A kind without ports (icmp) never shares a group with one that has them: the key holds kind and protocol.
    if (group.members && port === null) group.members.push(result);
    else if (group.members && group.count < COLLAPSE_AT) group.members.push(result);
    else group.members = null;
  }

  format(head: RunTableHead, colour: boolean): string {
    const lines: string[] = [];
    const profile = head.profile ? `${head.profile.name} (sha256 ${head.profile.hash.slice(0, 12)})` : '-';
    lines.push(`site ${head.site ?? '-'} · role ${head.role ?? '-'} · agent ${head.agent} · profile ${profile}`);
    for (const [name, row] of this.#rows) {
      const failed = row.failed ? `, ${row.failed} not passed` : '';
      lines.push('', `${name}  (${row.count} ${row.count === 1 ? 'probe' : 'probes'}${failed})`);
      for (const group of row.groups.values()) {
        if (group.members) {
          for (const result of group.members) lines.push(`  ${formatResultLine(result, colour)}${extras(result)}`);
          continue;
        }
        const { first } = group;
        const summary = { ...first, target: { ...first.target, port: null } };
        const ports = portRanges(group.ports);
        lines.push(`  ${formatResultLine(summary, colour)} [${group.count} ports: ${ports}]${extras(first)}`);
      }
    }
    if (head.overlaps?.length) {
      lines.push('', 'probed once where rows overlap:');
      for (const overlap of head.overlaps)
        lines.push(`  ${overlap.target}:${overlap.port ?? '-'}/${overlap.protocol}: ${overlap.reason}`);
    }
    if (head.not_proven?.length) {
      lines.push('', 'not proven by this run:');
      for (const entry of head.not_proven) lines.push(`  ${entry.row}: ${entry.text}`);
    }
    lines.push('', formatSummary(head.summary, this.#count));
    return `${lines.join('\n')}\n`;
  }
}

function extras(result: ProbeResult): string {
  return result.control ? ` (control: ${result.control})` : '';
}
