import type { DoctorReport } from './doctor.js';
import type { FindingStatus } from './finding.js';

const COLOURS: Record<FindingStatus, string> = { ok: '\x1b[32m', warn: '\x1b[33m', fail: '\x1b[31m', skip: '\x1b[2m' };
const RESET = '\x1b[0m';
const CHECK_WIDTH = 12;

/** The doctor's findings for a person: one line each, the fix under every finding that is not ok. */
export function formatDoctor(report: DoctorReport, colour: boolean): string {
  const lines = [
    `reachgate ${report.version} doctor on ${report.host} (uid ${report.uid ?? '?'}, node ${report.node})`,
    '',
  ];
  const indent = ' '.repeat(6 + CHECK_WIDTH);
  for (const finding of report.findings) {
    const status = finding.status.toUpperCase().padEnd(6);
    const subject = finding.subject === undefined ? '' : `${finding.subject}: `;
    lines.push(
      `${colour ? `${COLOURS[finding.status]}${status}${RESET}` : status}${finding.check.padEnd(CHECK_WIDTH)}${subject}${finding.message}`,
    );
    if (finding.fix !== undefined) lines.push(`${indent}fix: ${finding.fix}`);
  }
  const { ok, warn, fail, skip } = report.summary;
  lines.push(
    '',
    `${report.findings.length} findings: ${ok} ok, ${warn} warn, ${fail} fail${skip > 0 ? `, ${skip} not checked` : ''}`,
  );
  return `${lines.join('\n')}\n`;
}
