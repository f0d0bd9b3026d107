import type { Verdict } from '../core/result.js';
import type { Matrix, MatrixCell } from '../core/matrix.js';
import { seenByText } from '../core/matrix.js';
import { COLOURS, RESET, describeTarget } from './table.js';
import { xml } from './junit.js';

const SHORT: Record<Verdict, string> = { pass: 'PASS', fail: 'FAIL', inconclusive: 'INCONCL', error: 'ERROR' };

/** The matrix for a terminal: rows down, agents across (grouped by role), then every cell that is not a plain pass with its reasons. */
export function formatMatrixTable(matrix: Matrix, colour: boolean): string {
  const lines: string[] = [];
  lines.push(
    `site ${matrix.site ?? '-'} · generated ${matrix.generated_at} · ${count(matrix.agents.length, 'agent')} ` +
      `· ${count(matrix.rows.length, 'row')}${matrix.drift_count ? ` · drift ${matrix.drift_count}` : ''}`,
  );
  lines.push('');
  for (const agent of matrix.agents) {
    const profile = agent.profile ? `${agent.profile.name} (sha256 ${agent.profile.hash.slice(0, 12)})` : '-';
    lines.push(
      `  ${agent.name}  role ${agent.role ?? '-'} · reachgate ${agent.version} · profile ${profile} ` +
        `· last report ${agent.last_report_at}${agent.stale ? ' · STALE' : ''}`,
    );
  }
  if (matrix.agents.length === 0) lines.push('  no agent has reported yet');
  const cells = new Map(matrix.cells.map((cell) => [`${cell.agent}\u0000${cell.row}`, cell]));
  const rowWidth = Math.max(3, ...matrix.rows.map((row) => row.length));
  const widths = matrix.agents.map((agent) => Math.max(9, agent.name.length, (agent.role ?? '-').length));
  const pad = (text: string, width: number): string => text + ' '.repeat(Math.max(0, width - text.length));
  if (matrix.agents.length > 0) {
    lines.push('');
    lines.push(
      `${pad('', rowWidth)}  ${matrix.agents.map((agent, i) => pad(agent.role ?? '-', widths[i]!)).join('  ')}`,
    );
    lines.push(`${pad('row', rowWidth)}  ${matrix.agents.map((agent, i) => pad(agent.name, widths[i]!)).join('  ')}`);
    for (const row of matrix.rows) {
      const shown = matrix.agents.map((agent, i) => {
        const cell = cells.get(`${agent.name}\u0000${row}`);
        const text = pad(cell ? cellText(cell) : '·', widths[i]!);
        return colour && cell ? `${COLOURS[cell.verdict]}${text}${RESET}` : text;
      });
      lines.push(`${pad(row, rowWidth)}  ${shown.join('  ')}`);
    }
    lines.push(
      '',
      'legend: PASS FAIL INCONCL ERROR; * drift from the baseline; ~ agent stale; · not probed by that agent',
    );
  }
  const notable = matrix.cells.filter((cell) => cell.verdict !== 'pass' || cell.drift);
  if (notable.length > 0) lines.push('', 'not passed or drifted:');
  for (const cell of notable) {
    lines.push(
      `  ${cell.row} from ${cell.agent}: ${cell.verdict}${cell.drift ? ` (baseline: ${cell.baseline ?? 'not in it'})` : ''}`,
    );
    for (const result of cell.results.filter((r) => r.verdict !== 'pass')) {
      const control = result.control
        ? ` [control ${result.control}: ${result.control_seen_by?.length ? `seen open by ${seenByText(result)}` : 'target not seen open'}]`
        : '';
      lines.push(
        `    ${result.verdict.toUpperCase().padEnd(13)}${result.state.padEnd(12)}${result.kind} ` +
          `${describeTarget(result)}  ${result.reason}${control}`,
      );
    }
  }
  for (const cell of matrix.vanished ?? [])
    lines.push(`  ${cell.row} from ${cell.agent}: no longer reported (baseline: ${cell.baseline})`);
  const { pass = 0, fail = 0, inconclusive = 0, error = 0 } = matrix.summary;
  const stale = matrix.agents.filter((agent) => agent.stale).length;
  lines.push(
    '',
    `${count(matrix.cells.length, 'cell')}: ${pass} pass, ${fail} fail, ${inconclusive} inconclusive, ` +
      `${error} error; ${stale} stale ${stale === 1 ? 'agent' : 'agents'}; ${matrix.drift_count} drift`,
  );
  return `${lines.join('\n')}\n`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function cellText(cell: MatrixCell): string {
  return `${SHORT[cell.verdict] ?? cell.verdict}${cell.drift ? '*' : ''}${cell.stale ? '~' : ''}`;
}

/** The matrix as one JSON document. */
export function formatMatrixJson(matrix: Matrix): string {
  return `${JSON.stringify(matrix)}\n`;
}

/** JUnit XML of the matrix: a testsuite per agent, a testcase per row; stale and drift fail the case too. */
export function formatMatrixJunit(matrix: Matrix): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const failing = (cell: MatrixCell): boolean =>
    cell.verdict === 'fail' || cell.verdict === 'inconclusive' || cell.stale || cell.drift;
  const failures =
    matrix.cells.filter((cell) => cell.verdict !== 'error' && failing(cell)).length + (matrix.vanished?.length ?? 0);
  const errors = matrix.cells.filter((cell) => cell.verdict === 'error').length;
  out.push(
    `<testsuites name="${xml(`reachgate matrix ${matrix.site ?? ''}`.trim())}" ` +
      `tests="${matrix.cells.length + (matrix.vanished?.length ?? 0)}" failures="${failures}" ` +
      `errors="${errors}" timestamp="${xml(matrix.generated_at)}">`,
  );
  for (const agent of matrix.agents) {
    const cells = matrix.cells.filter((cell) => cell.agent === agent.name);
    const suiteFailures = cells.filter((cell) => cell.verdict !== 'error' && failing(cell)).length;
    const suiteErrors = cells.filter((cell) => cell.verdict === 'error').length;
    out.push(
      `  <testsuite name="${xml(agent.name)}" tests="${cells.length}" failures="${suiteFailures}" ` +
        `errors="${suiteErrors}" timestamp="${xml(agent.last_report_at)}" hostname="${xml(agent.name)}">`,
    );
    out.push('    <properties>');
    out.push(`      <property name="role" value="${xml(agent.role ?? '')}"/>`);
    out.push(`      <property name="version" value="${xml(agent.version)}"/>`);
    out.push(`      <property name="profile" value="${xml(agent.profile?.name ?? '')}"/>`);
    out.push(`      <property name="profile_sha256" value="${xml(agent.profile?.hash ?? '')}"/>`);
    out.push(`      <property name="stale" value="${agent.stale}"/>`);
    out.push('    </properties>');
    for (const cell of cells) {
      out.push(
        `    <testcase classname="${xml(`${agent.role ?? 'reachgate'}.${agent.name}`)}" name="${xml(cell.row)}" time="0">`,
      );
      const reasons = cell.results
        .filter((result) => result.verdict !== 'pass')
        .map(
          (result) => `${result.verdict} ${result.kind} ${describeTarget(result)} ${result.state}: ${result.reason}`,
        );
      const marks = [
        ...(cell.stale ? ['agent stale'] : []),
        ...(cell.drift ? [`drift from baseline ${cell.baseline ?? '(not in it)'}`] : []),
      ];
      const message = `${[cell.verdict, ...marks].join(', ')}${reasons[0] ? `: ${reasons[0]}` : ''}`;
      if (cell.verdict === 'error') out.push(`      <error type="error" message="${xml(message)}"/>`);
      else if (failing(cell)) out.push(`      <failure type="${xml(cell.verdict)}" message="${xml(message)}"/>`);
      const lines = cell.results.map(
        (result) => `${result.verdict} ${result.kind} ${describeTarget(result)} ${result.state}: ${result.reason}`,
      );
      out.push(`      <system-out>${xml(lines.join('\n'))}</system-out>`);
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  if (matrix.vanished?.length) {
    out.push(
      `  <testsuite name="baseline" tests="${matrix.vanished.length}" failures="${matrix.vanished.length}" errors="0">`,
    );
    for (const cell of matrix.vanished) {
      out.push(`    <testcase classname="${xml(`baseline.${cell.agent}`)}" name="${xml(cell.row)}" time="0">`);
      out.push(
        `      <failure type="drift" message="${xml(`no longer reported; the baseline says ${cell.baseline}`)}"/>`,
      );
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

/** The exit code of a matrix check: 0 when there are cells, every one passes, no agent is stale and nothing drifted. */
export function matrixExitCode(matrix: Matrix): 0 | 1 {
  const clean =
    matrix.cells.length > 0 &&
    matrix.cells.every((cell) => cell.verdict === 'pass') &&
    matrix.agents.every((agent) => !agent.stale) &&
    matrix.drift_count === 0;
  return clean ? 0 : 1;
}
