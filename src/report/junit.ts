import type { RunReport } from '../core/result.js';
import { describeTarget } from './table.js';
import { groupByRow } from '../core/rows.js';

/** A character xml() replaces: a control character XML 1.0 cannot carry, or markup. */
const NEEDS_ESCAPE = /[\x00-\x08\x0b\x0c\x0e-\x1f&<>"']/;

/** Escape text for XML attributes and content. */
export function xml(text: string): string {
  // Most texts need nothing: one scan instead of six replacements (a coordinator's page escapes tens of thousands).
  if (!NEEDS_ESCAPE.test(text)) return text;
  // XML 1.0 cannot carry most control characters at all, escaped or not.
  return text
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '?')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** JUnit XML: a testsuite per row, a testcase per probe, the reason as the failure message. */
export function formatJunit(report: RunReport): string {
  const seconds = (Date.parse(report.finished_at) - Date.parse(report.started_at)) / 1000;
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const { pass, fail, inconclusive, error } = report.summary;
  out.push(
    `<testsuites name="${xml(`reachgate ${report.site ?? ''} ${report.role ?? ''}`.trim())}" ` +
      `tests="${pass + fail + inconclusive + error}" failures="${fail + inconclusive}" errors="${error}" time="${seconds.toFixed(3)}">`,
  );
  for (const [row, results] of groupByRow(report.results)) {
    const failures = results.filter((r) => r.verdict === 'fail' || r.verdict === 'inconclusive').length;
    const errors = results.filter((r) => r.verdict === 'error').length;
    out.push(
      `  <testsuite name="${xml(row)}" tests="${results.length}" failures="${failures}" errors="${errors}" ` +
        `timestamp="${xml(report.started_at)}" hostname="${xml(report.agent)}">`,
    );
    for (const result of results) {
      const name = `${result.kind} ${describeTarget(result)} expect ${result.expect}`;
      const time = ((result.rtt_ms ?? 0) / 1000).toFixed(3);
      out.push(
        `    <testcase classname="${xml(`${report.role ?? 'reachgate'}.${row}`)}" name="${xml(name)}" time="${time}">`,
      );
      if (result.verdict === 'fail' || result.verdict === 'inconclusive') {
        out.push(`      <failure type="${result.verdict}" message="${xml(`${result.state}: ${result.reason}`)}"/>`);
      } else if (result.verdict === 'error') {
        out.push(`      <error type="error" message="${xml(result.reason)}"/>`);
      }
      out.push(`      <system-out>${xml(`${result.state}: ${result.reason}`)}</system-out>`);
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}
