import { createHash } from 'node:crypto';
import type { MatrixResult } from '../core/matrix.js';
import { VERDICTS } from '../core/result.js';
import { formatMs } from '../core/duration.js';
import { seenByText } from '../core/matrix.js';
import { describeTarget } from '../report/table.js';
import { xml as escape } from '../report/junit.js';
import type { AcceptanceRecord, RecordAgent, SignedRecord } from './model.js';
import type { Verification } from './sign.js';

/** The page's whole style: printed on A4, verdicts in the matrix page's colours. */
const STYLE = `
@page { size: A4; margin: 14mm 12mm 16mm; }
:root { --pass: #2e7d32; --fail: #c62828; --inconclusive: #b26a00; --error: #6a1b9a; --line: #cfd8dc; --muted: #5f6b76;
  font-family: 'DejaVu Sans', system-ui, sans-serif; color: #1c1f23; font-size: 10pt; }
body { margin: 0 auto; padding: 1rem; max-width: 60rem; line-height: 1.35; }
h1 { font-size: 16pt; margin: 0 0 .2rem; } h2 { font-size: 12pt; margin: 1.2rem 0 .4rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 10.5pt; margin: .9rem 0 .3rem; }
.muted { color: var(--muted); }
.verdict { display: inline-block; padding: .1rem .5rem; border-radius: .2rem; color: #fff; font-weight: bold; }
.v-pass { background: var(--pass); } .v-fail { background: var(--fail); } .v-inconclusive { background: var(--inconclusive); }
.v-error { background: var(--error); }
.summary { font-size: 12pt; margin: .4rem 0; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0; }
th, td { border: 1px solid var(--line); padding: .15rem .35rem; text-align: left; vertical-align: top; }
th { background: #eceff1; font-weight: 600; }
td.mono, .mono { font-family: 'DejaVu Sans Mono', monospace; font-size: 8.5pt; overflow-wrap: anywhere; }
code { font-family: 'DejaVu Sans Mono', monospace; font-size: 8pt; white-space: pre-wrap; overflow-wrap: anywhere; }
.signature { border: 2px solid #1c1f23; padding: .6rem .8rem; margin: .8rem 0; break-inside: avoid; }
.signature dl { display: grid; grid-template-columns: 11rem 1fr; gap: .15rem .6rem; margin: 0; }
.signature dt { font-weight: 600; } .signature dd { margin: 0; overflow-wrap: anywhere; }
.short { font-family: 'DejaVu Sans Mono', monospace; font-size: 22pt; font-weight: bold; letter-spacing: .08em; margin: .4rem 0 .1rem; }
.bad { color: var(--fail); font-weight: bold; } .good { color: var(--pass); font-weight: bold; }
.agent { break-inside: auto; }
tr { break-inside: avoid; }
td.row { min-width: 7rem; }
`.trim();

/** The Content-Security-Policy of the page: nothing may load, only its own inline style (by hash) applies. */
export const RECORD_CSP =
  `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; ` +
  "img-src 'none'; form-action 'none'; base-uri 'none'";

/**
 * A signed record as one self-contained HTML page, ready to print: the verdict, a signature block with the
 * approver, change, key id and the record's digest (short form in large type), then scope, controls, every
 * agent with every result and its evidence. No script, nothing external; every value escaped.
 */
export function renderRecordHtml(signed: SignedRecord, verification: Verification): string {
  const { record } = signed;
  const title = `Acceptance record: ${record.site ?? 'site'} (${record.change})`;
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${escape(RECORD_CSP)}">`,
    '<meta name="referrer" content="no-referrer">',
    `<title>${escape(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head><body>',
    renderHead(record),
    renderSignature(record, verification),
    renderScope(record),
    renderRows(record),
    renderControls(record),
    ...record.agents.map(renderAgent),
    '</body></html>',
    '',
  ].join('\n');
}

function verdictBadge(verdict: string): string {
  return `<span class="verdict v-${escape(verdict)}">${escape(verdict.toUpperCase())}</span>`;
}

/** "Verdict PASS: 12 cells (...): 12 pass, 0 fail, 0 inconclusive, 0 error": the verdict summary line. */
export function verdictSummary(record: AcceptanceRecord): string {
  return `Verdict ${String(record.verdict).toUpperCase()}: ${cellCounts(record)}`;
}

/** "12 cells (3 agents x 4 rows): 12 pass, 0 fail, 0 inconclusive, 0 error". */
function cellCounts(record: AcceptanceRecord): string {
  // Read from a record that may have been changed: any shape prints, nothing throws.
  const summary = (record.summary ?? {}) as Partial<AcceptanceRecord['summary']>;
  const counts = VERDICTS.map((verdict) => `${String(summary[verdict])} ${verdict}`).join(', ');
  return `${String(summary.cells)} cells (${String(summary.agents)} agents x ${String(summary.rows)} rows): ${counts}`;
}

function renderHead(record: AcceptanceRecord): string {
  const stale =
    record.summary.stale_agents > 0 ? `; <span class="bad">${record.summary.stale_agents} stale agents</span>` : '';
  return [
    `<h1>Acceptance record: site ${escape(record.site ?? '(none)')}</h1>`,
    `<p class="summary"><span class="verdict v-${escape(record.verdict)}">Verdict ${escape(record.verdict.toUpperCase())}</span> ` +
      `${escape(cellCounts(record))}${stale}</p>`,
    `<p class="muted">Results taken ${escape(record.window.from)} to ${escape(record.window.to)}; ` +
      `record made ${escape(record.created_at)} by reachgate ${escape(record.generator.version)}.</p>`,
  ].join('\n');
}

function renderSignature(record: AcceptanceRecord, verification: Verification): string {
  // Only a record that verified is rendered (accept renders what it signed, verify what held).
  if (!verification.ok) throw new Error('renderRecordHtml: the record does not verify');
  const keyFrom =
    verification.key_from === 'given'
      ? 'the given public key'
      : "the key the record carries: compare its id with the approver's published key id";
  const status = `<span class="good">signature and every digest hold</span> (checked with ${keyFrom})`;
  return [
    '<section class="signature"><h2>Signature</h2><dl>',
    `<dt>Approver</dt><dd>${escape(record.approver)}</dd>`,
    `<dt>Change</dt><dd>${escape(record.change)}</dd>`,
    `<dt>Signed</dt><dd>${escape(record.created_at)}, Ed25519 (JWS EdDSA)</dd>`,
    `<dt>Key id</dt><dd class="mono">${escape(verification.signed_key_id ?? '(none)')}</dd>`,
    `<dt>Record digest</dt><dd class="mono">sha-256 ${escape(verification.digest ?? '')}</dd>`,
    `<dt>Verification</dt><dd>${status}</dd>`,
    '</dl>',
    '<p>Short digest (compare with <code>reachgate verify RECORD</code>):</p>',
    `<p class="short">${escape(verification.short_digest ?? '')}</p>`,
    '</section>',
  ].join('\n');
}

function renderScope(record: AcceptanceRecord): string {
  const source =
    record.source.kind === 'coordinator'
      ? `coordinator ${record.source.url}`
      : `report files ${record.source.files.join(', ')}`;
  return [
    '<h2>Scope</h2>',
    '<table>',
    `<tr><th>Site</th><td>${escape(record.site ?? '(none)')}</td></tr>`,
    `<tr><th>Edition</th><td>${escape(record.edition ?? '(not reported)')}</td></tr>`,
    `<tr><th>Source</th><td>${escape(source)}</td></tr>`,
    `<tr><th>Site file</th><td class="mono">${
      record.site_files.map((file) => `${escape(file.sha256)} (${file.agents} agents)`).join('<br>') || '(not reported)'
    }</td></tr>`,
    '</table>',
    '<h3>Profiles</h3>',
    '<table><thead><tr><th>Profile</th><th>sha-256</th><th>Agents</th></tr></thead><tbody>',
    ...record.profiles.map(
      (profile) =>
        `<tr><td>${escape(profile.name)}</td><td class="mono">${escape(profile.sha256)}</td><td>${profile.agents}</td></tr>`,
    ),
    '</tbody></table>',
  ].join('\n');
}

function renderRows(record: AcceptanceRecord): string {
  const counts = new Map(record.rows.map((row) => [row, { pass: 0, fail: 0, inconclusive: 0, error: 0 }]));
  for (const agent of record.agents)
    for (const [row, verdict] of Object.entries(agent.cells)) {
      const count = counts.get(row);
      if (count) count[verdict]++;
    }
  return [
    '<h2>Rows</h2>',
    `<table><thead><tr><th>Row</th>${VERDICTS.map((verdict) => `<th>${verdict}</th>`).join('')}</tr></thead><tbody>`,
    ...[...counts].map(
      ([row, count]) =>
        `<tr><td>${escape(row)}</td>${VERDICTS.map((verdict) => `<td>${count[verdict]}</td>`).join('')}</tr>`,
    ),
    '</tbody></table>',
  ].join('\n');
}

function renderControls(record: AcceptanceRecord): string {
  if (record.controls.length === 0) return '<h2>Controls</h2><p class="muted">No negative probe names a control.</p>';
  return [
    '<h2>Controls</h2>',
    '<p class="muted">A blocked path is proven only where an agent of the control role reached the same target.</p>',
    '<table><thead><tr><th>Row</th><th>Target</th><th>Control role</th><th>Met</th><th>Seen open by</th></tr></thead><tbody>',
    ...record.controls.map(
      (control) =>
        `<tr><td>${escape(control.row)}</td><td class="mono">${escape(control.target)}</td><td>${escape(control.control)}</td>` +
        `<td>${control.met} of ${control.results}</td><td>${escape(control.seen_by.join(', ') || 'nobody')}</td></tr>`,
    ),
    '</tbody></table>',
  ].join('\n');
}

function renderAgent(agent: RecordAgent): string {
  const facts = [
    `role ${agent.role ?? '(none)'}`,
    `version ${agent.version}`,
    `host ${agent.host ?? '(not reported)'}`,
    `profile ${agent.profile ? `${agent.profile.name} ${agent.profile.sha256}` : '(none)'}`,
    `report ${agent.report.id}, sha-256 ${agent.report.sha256}`,
    `taken ${agent.report.started_at} to ${agent.report.finished_at}`,
  ];
  return [
    `<section class="agent"><h2>Agent ${escape(agent.name)}${agent.stale ? ' <span class="bad">(stale)</span>' : ''}</h2>`,
    `<p class="muted">${facts.map(escape).join('; ')}</p>`,
    '<table><thead><tr><th>#</th><th>Row</th><th>Verdict</th><th>Target</th><th>State</th><th>Reason and evidence</th></tr></thead><tbody>',
    ...agent.results.map((result, index) => renderResult(result, index)),
    '</tbody></table>',
    ...(agent.overlaps.length
      ? [
          '<h3>Overlaps</h3><ul>',
          ...agent.overlaps.map((overlap) => `<li>${escape(`${overlap.row}: ${overlap.reason}`)}</li>`),
          '</ul>',
        ]
      : []),
    ...(agent.not_proven.length
      ? [
          '<h3>Not proven</h3><ul>',
          ...agent.not_proven.map((entry) => `<li>${escape(`${entry.row}: ${entry.text}`)}</li>`),
          '</ul>',
        ]
      : []),
    '</section>',
  ].join('\n');
}

function renderResult(result: MatrixResult, index: number): string {
  const notes = [
    result.reason,
    result.rtt_ms === undefined ? '' : `rtt ${formatMs(result.rtt_ms)}`,
    result.icmp ? `ICMP ${result.icmp.type}/${result.icmp.code} from ${result.icmp.from}` : '',
    result.control ? `control ${result.control}: seen open by ${seenByText(result) || 'nobody'}` : '',
    result.reported_verdict ? `reported ${result.reported_verdict}` : '',
  ].filter(Boolean);
  const evidence = result.evidence ? `<br><code>${escape(JSON.stringify(result.evidence))}</code>` : '';
  return (
    `<tr><td>${index + 1}</td><td class="row">${escape(result.row ?? '')}</td><td>${verdictBadge(result.verdict)}</td>` +
    `<td class="mono">${escape(`${result.kind} ${describeTarget(result)}`)}</td><td>${escape(result.state)}</td>` +
    `<td>${notes.map(escape).join('; ')}${evidence}</td></tr>`
  );
}
