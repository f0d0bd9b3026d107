import type { RunReport } from '../core/result.js';
import { describeTarget } from './table.js';

/** monitoring-plugins exit codes. */
export const NAGIOS = { ok: 0, warning: 1, critical: 2, unknown: 3 } as const;

/** The plugin status of a run: CRITICAL on any fail, WARNING on inconclusive, UNKNOWN when probes could not run. */
export function nagiosStatus(report: Pick<RunReport, 'summary'>): keyof typeof NAGIOS {
  const { fail, inconclusive, error } = report.summary;
  if (fail > 0) return 'critical';
  if (error > 0) return 'unknown';
  if (inconclusive > 0) return 'warning';
  return 'ok';
}

/** One status line with counts and perfdata, then a line per probe that did not pass. */
export function formatNagios(report: RunReport): string {
  const status = nagiosStatus(report);
  const { pass, fail, inconclusive, error } = report.summary;
  const total = report.results.length;
  const seconds = (Date.parse(report.finished_at) - Date.parse(report.started_at)) / 1000;
  const bad = report.results.filter((result) => result.verdict !== 'pass');
  const first = bad[0] ? `; first: ${bad[0].row ?? bad[0].kind} ${describeTarget(bad[0])} ${bad[0].reason}` : '';
  const where = [report.site, report.role].filter(Boolean).join(' ');
  // "|" separates perfdata: it must not appear in the text part.
  const counts = `${pass} of ${total} pass, ${fail} fail, ${inconclusive} inconclusive, ${error} error`;
  const text = `REACHGATE ${status.toUpperCase()} - ${counts}${where ? ` (${where})` : ''}${first}`.replace(/\|/g, '/');
  const perf =
    `pass=${pass};;;0;${total} fail=${fail};;1;0;${total} inconclusive=${inconclusive};1;;0;${total} ` +
    `error=${error};;;0;${total} duration=${seconds.toFixed(3)}s;;;0;`;
  const details = bad
    .slice(0, 50)
    .map((result) =>
      `${result.verdict.toUpperCase()} ${result.row ?? result.kind}: ${result.kind} ${describeTarget(result)} ${result.state}: ${result.reason}`.replace(
        /\|/g,
        '/',
      ),
    );
  return `${text} | ${perf}\n${details.join('\n')}${details.length ? '\n' : ''}`;
}
