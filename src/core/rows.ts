import type { ProbeResult } from './result.js';

/** Results grouped by port-table row, rows in the order they first appear. */
export function groupByRow(results: readonly ProbeResult[]): Map<string, ProbeResult[]> {
  const rows = new Map<string, ProbeResult[]>();
  for (const result of results) {
    const row = result.row ?? '(no row)';
    let group = rows.get(row);
    if (!group) rows.set(row, (group = []));
    group.push(result);
  }
  return rows;
}
