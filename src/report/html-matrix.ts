import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VERDICTS, type Verdict } from '../core/result.js';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { formatMs } from '../core/duration.js';
import { VERSION } from '../core/version.js';
import type { Matrix, MatrixAgent, MatrixCell, MatrixOverview, MatrixResult, MatrixSummary } from '../core/matrix.js';
import { worstVerdict, seenByText } from '../core/matrix.js';
import { describeTarget } from './table.js';
import { xml as escape } from './junit.js';

/** The folder of the page's stylesheet and script (tsc does not copy them to dist/: they are read from the package). */
export const MATRIX_ASSETS_DIR: string = join(PACKAGE_ROOT, 'src', 'report', 'assets');

/** The page's static files, by the name they are served under /assets/. */
const ASSETS: Record<string, string> = {
  'matrix.css': 'text/css; charset=utf-8',
  'matrix.js': 'text/javascript; charset=utf-8',
};

/** How renderMatrixHtml builds the page. */
export interface MatrixHtmlOptions {
  /** Reload the page this often (seconds); the script waits while an evidence panel is open. */
  refreshSeconds?: number;
  /**
   * `link` (default): link /assets/matrix.css and /assets/matrix.js, for a server with a strict CSP.
   * `inline`: embed both, for a single file that can be handed over and opened from disk.
   */
  assets?: 'link' | 'inline';
  /** Links above the matrix (a coordinator's drill-down pages). */
  nav?: { text: string; links: Array<{ href: string; text: string }> };
}

/** A static file of the matrix page by its name under /assets/, or null for any other name. */
export function matrixAsset(name: string): { body: string; contentType: string } | null {
  const contentType = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
  if (contentType === undefined) return null;
  return { body: readFileSync(join(MATRIX_ASSETS_DIR, name), 'utf8'), contentType };
}

const LEGEND: Record<Verdict | 'stale' | 'drift', string> = {
  pass: 'every probe of the row gave the expected answer',
  fail: 'a path that must be open is not, or one that must be blocked answered',
  inconclusive:
    'nothing proven: a blocked path whose control role did not reach the target, or silence from a protocol that never answers',
  error: 'a probe could not run on the agent',
  stale: "the agent's latest report is older than twice its interval, or than the coordinator's maximum age",
  drift: 'the verdict differs from the accepted baseline',
};

/**
 * The matrix as a full HTML page: grid, legend, flow picture, agents and every probe result; every value escaped,
 * and with linked assets no inline script or style.
 */
export function renderMatrixHtml(matrix: Matrix, options: MatrixHtmlOptions = {}): string {
  return [...matrixHtmlParts(matrix, options)].join('');
}

/**
 * The same page in parts (a grid row, an agent's results, ...) whose concatenation is renderMatrixHtml's text: a
 * server takes a few at a time and lets other requests in between, so a large page never holds its event loop.
 */
export function* matrixHtmlParts(matrix: Matrix, options: MatrixHtmlOptions = {}): Generator<string, void, undefined> {
  yield pageStart(matrix.site, options);
  if (options.nav) yield `${renderNav(options.nav)}\n`;
  yield `${renderHeader(matrix)}\n${renderLegend()}\n`;
  for (const line of gridLines(matrix)) yield `${line}\n`;
  yield `${renderFlow(matrix)}\n${renderAgents(matrix)}\n`;
  for (const line of resultLines(matrix)) yield `${line}\n`;
  yield `<footer>reachgate ${escape(VERSION)} · matrix generated ${escape(matrix.generated_at)}</footer>\n`;
  yield PAGE_END;
}

/** A whole HTML document around `body`. */
function page(site: string | null, body: string[], options: MatrixHtmlOptions): string {
  return `${pageStart(site, options)}${body.map((part) => `${part}\n`).join('')}${PAGE_END}`;
}

/** What closes every page. */
const PAGE_END = '</body>\n</html>\n';

/** A page up to and with its body tag (and a line break). */
function pageStart(site: string | null, options: MatrixHtmlOptions): string {
  const refresh =
    options.refreshSeconds !== undefined && options.refreshSeconds > 0 ? Math.round(options.refreshSeconds) : 0;
  const title = `reachgate matrix${site ? ` · ${site}` : ''}`;
  const head = [
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escape(title)}</title>`,
    // An empty icon: the browser does not ask the coordinator for /favicon.ico.
    '<link rel="icon" href="data:,">',
    ...assetTags(options.assets ?? 'link'),
    // Without script the browser still refreshes; with it, matrix.js waits while a reader has a panel open.
    ...(refresh > 0 ? [`<noscript><meta http-equiv="refresh" content="${refresh}"></noscript>`] : []),
  ];
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    `<head>\n${head.join('\n')}\n</head>`,
    `<body${refresh > 0 ? ` data-refresh="${refresh}"` : ''}>`,
    '',
  ].join('\n');
}

function renderNav(nav: NonNullable<MatrixHtmlOptions['nav']>): string {
  const links = nav.links.map((link) => `<a href="${escape(link.href)}">${escape(link.text)}</a>`).join(' · ');
  return `<nav class="drill"><p>${escape(nav.text)} · ${links}</p></nav>`;
}

/** A drill-down address on the coordinator's page. */
function drillHref(filter: { role?: string | null; row?: string; agent?: string }): string {
  const search = new URLSearchParams();
  if (filter.role) search.set('role', filter.role);
  if (filter.row !== undefined) search.set('row', filter.row);
  if (filter.agent !== undefined) search.set('agent', filter.agent);
  return `/?${search.toString()}`;
}

/**
 * The page of a site too large to show every cell: the summary, drifted cells and stale agents
 * first, then role x row with counts per verdict; every count links to its cells (server
 * rendered, linked assets only, no inline script or style).
 */
export function renderOverviewHtml(overview: MatrixOverview, options: MatrixHtmlOptions = {}): string {
  if (overview.counting) return renderCountingHtml(overview, overview.counting.since, options);
  const summary = overview.summary;
  const counts = VERDICTS.map(
    (verdict) => `<li class="v-${verdict}"><span class="count">${summary[verdict]}</span> ${verdict}</li>`,
  );
  counts.push(`<li class="stale-count"><span class="count">${summary.stale_agents}</span> stale agents</li>`);
  counts.push(`<li class="drift-count"><span class="count">${summary.drift}</span> drift</li>`);
  const body = [
    '<header>',
    `<h1>reachgate matrix${overview.site ? ` <span class="site">${escape(overview.site)}</span>` : ''}</h1>`,
    `<p class="meta">Generated <time datetime="${escape(overview.generated_at)}">${escape(overview.generated_at)}</time> ` +
      `· ${summary.agents} agents · ${summary.rows} rows · ${summary.cells} cells: counts per role and row; ` +
      `open a count to see its cells and their probes</p>`,
    ...asOfNote(summary),
    `<ul class="summary">${counts.join('')}</ul>`,
    '</header>',
  ];
  if (overview.drifted.length > 0) {
    body.push(
      `<section class="drifted"><h2>Drifted cells (${firstOf(summary.drift, overview.drifted.length)})</h2><ul>`,
      ...overview.drifted.map(
        (cell) =>
          `<li><a href="${escape(drillHref({ agent: cell.agent, row: cell.row }))}">${escape(cell.agent)} · ${escape(cell.row)}</a>: ` +
          `<b class="verdict v-${cell.verdict}">${cell.verdict}</b>, the baseline says ${escape(cell.baseline ?? 'nothing (new cell)')}</li>`,
      ),
      '</ul></section>',
    );
  }
  body.push(...staleSection(overview));
  const groups = new Map(overview.groups.map((group) => [`${group.role ?? ''}\n${group.row}`, group]));
  return overviewPage(overview, body, options, (role, row) => {
    const group = groups.get(`${role ?? ''}\n${row}`);
    if (!group) return '<td class="cell none"><span class="none">·</span></td>';
    const worst = worstVerdict(VERDICTS.filter((verdict) => group.counts[verdict] > 0));
    const parts = VERDICTS.filter((verdict) => group.counts[verdict] > 0).map(
      (verdict) => `${group.counts[verdict]} ${verdict}`,
    );
    if (group.stale > 0) parts.push(`${group.stale} stale`);
    if (group.drift > 0) parts.push(`${group.drift} drift`);
    const classes = [
      'cell',
      `v-${worst}`,
      ...(group.stale > 0 ? ['stale'] : []),
      ...(group.drift > 0 ? ['drift'] : []),
    ];
    const href = drillHref({ ...(role === null ? {} : { role }), row });
    return `<td class="${classes.join(' ')}"><a href="${escape(href)}">${escape(parts.join(' · '))}</a></td>`;
  });
}

/** The overview's role x row grid (each cell from `cellOf`), the legend and the footer after `body`. */
function overviewPage(
  overview: MatrixOverview,
  body: string[],
  options: MatrixHtmlOptions,
  cellOf: (role: string | null, row: string) => string,
): string {
  const out = ['<section class="grid">', '<h2>Role x row</h2>', '<div class="scroll">', '<table class="matrix">'];
  out.push('<thead><tr><th class="corner">row \\ role</th>', ...overview.roles.map(roleHead), '</tr></thead>');
  out.push('<tbody>');
  for (const row of overview.rows) {
    out.push(`<tr><th scope="row" class="row"><a href="${escape(drillHref({ row }))}">${escape(row)}</a></th>`);
    out.push(...overview.roles.map((role) => cellOf(role, row)), '</tr>');
  }
  out.push('</tbody>', '</table>', '</div>', '</section>');
  body.push(
    out.join('\n'),
    renderLegend(),
    `<footer>reachgate ${escape(VERSION)} · overview generated ${escape(overview.generated_at)}</footer>`,
  );
  return page(overview.site, body, options);
}

/**
 * The overview while the site's first count runs: no counts yet (the page says so and reloads), its agents,
 * stale agents first, and role x row as links to their cells, which are served meanwhile.
 */
function renderCountingHtml(overview: MatrixOverview, since: string, options: MatrixHtmlOptions): string {
  const { summary } = overview;
  const body = [
    '<header>',
    `<h1>reachgate matrix${overview.site ? ` <span class="site">${escape(overview.site)}</span>` : ''}</h1>`,
    `<p class="meta">Generated <time datetime="${escape(overview.generated_at)}">${escape(overview.generated_at)}</time> ` +
      `· ${summary.agents} agents · ${summary.rows} rows</p>`,
    `<p class="meta as-of counting">Counting the cells of ${summary.agents} agents (since <time datetime="${escape(since)}">` +
      `${escape(since)}</time>): their counts per verdict appear here when it is done. Open a role or a row to see ` +
      'its cells now.</p>',
    `<ul class="summary"><li class="stale-count"><span class="count">${summary.stale_agents}</span> stale agents</li></ul>`,
    '</header>',
  ];
  body.push(...staleSection(overview));
  return overviewPage(overview, body, options, (role, row) => {
    const href = drillHref({ ...(role === null ? {} : { role }), row });
    return `<td class="cell counting"><a href="${escape(href)}">cells</a></td>`;
  });
}

/** The overview's stale agents, each linking to its cells. */
function staleSection(overview: MatrixOverview): string[] {
  if (overview.stale.length === 0) return [];
  return [
    `<section class="stale-agents"><h2>Stale agents (${firstOf(overview.summary.stale_agents, overview.stale.length)})</h2><ul>`,
    ...overview.stale.map(
      (agent) =>
        `<li><a href="${escape(drillHref({ agent: agent.name }))}">${escape(agent.name)}</a> ` +
        `(${escape(agent.role ?? 'no role')}): last results ${escape(agent.last_report_at)}</li>`,
    ),
    '</ul></section>',
  ];
}

/** A role's column head on the overview, linking to its cells. */
function roleHead(role: string | null): string {
  const label = escape(role ?? '(no role)');
  return `<th scope="col" class="role">${role === null ? label : `<a href="${escape(drillHref({ role }))}">${label}</a>`}</th>`;
}

/** "120, the first 50" or "12": how many there are, and how many are listed. */
function firstOf(total: number, listed: number): string {
  return total > listed ? `${total}, the first ${listed}` : String(total);
}

function assetTags(mode: 'link' | 'inline'): string[] {
  if (mode === 'link')
    return ['<link rel="stylesheet" href="/assets/matrix.css">', '<script src="/assets/matrix.js" defer></script>'];
  const css = matrixAsset('matrix.css')!.body;
  // The script runs at the end of the body in the inline form, where `defer` has no effect.
  return [
    `<style>\n${css}</style>`,
    `<script>\ndocument.addEventListener('DOMContentLoaded', () => {\n${matrixAsset('matrix.js')!.body}});\n</script>`,
  ];
}

/** A note when the counts are of an earlier state than the page (a large site's last count, a newer one running). */
function asOfNote(summary: MatrixSummary): string[] {
  if (summary.current !== false || summary.as_of === undefined) return [];
  const asOf = escape(summary.as_of);
  return [
    `<p class="meta as-of">Counts as of <time datetime="${asOf}">${asOf}</time>; newer counts are being made ` +
      `(the cells you open are always current)</p>`,
  ];
}

function renderHeader(matrix: Matrix): string {
  const counts = VERDICTS.map(
    (verdict) =>
      `<li class="v-${verdict}"><span class="count">${escape(String(matrix.summary[verdict] ?? 0))}</span> ${verdict}</li>`,
  );
  const stale = matrix.agents.filter((agent) => agent.stale).length;
  counts.push(
    `<li class="stale-count"><span class="count">${stale}</span> stale ${stale === 1 ? 'agent' : 'agents'}</li>`,
  );
  counts.push(`<li class="drift-count"><span class="count">${escape(String(matrix.drift_count))}</span> drift</li>`);
  return [
    '<header>',
    `<h1>reachgate matrix${matrix.site ? ` <span class="site">${escape(matrix.site)}</span>` : ''}</h1>`,
    `<p class="meta">Generated <time datetime="${escape(matrix.generated_at)}">${escape(matrix.generated_at)}</time> ` +
      `· ${matrix.agents.length} ${matrix.agents.length === 1 ? 'agent' : 'agents'} · ${matrix.rows.length} ` +
      `${matrix.rows.length === 1 ? 'row' : 'rows'} · ${matrix.cells.length} cells</p>`,
    ...asOfNote(matrix.summary),
    `<ul class="summary">${counts.join('')}</ul>`,
    '</header>',
  ].join('\n');
}

function renderLegend(): string {
  const items = VERDICTS.map(
    (verdict) => `<li><span class="swatch v-${verdict}"></span><b>${verdict}</b>: ${escape(LEGEND[verdict])}</li>`,
  );
  items.push(`<li><span class="swatch v-pass stale"></span><b>stale</b> (hatched): ${escape(LEGEND.stale)}</li>`);
  items.push(
    `<li><span class="swatch v-pass drift"></span><b>drift</b> (outlined, marked Δ): ${escape(LEGEND.drift)}</li>`,
  );
  return (
    `<section class="legend" aria-label="Legend">\n<h2>Legend</h2>\n<ul>${items.join('\n')}</ul>\n<p ` +
    `class="hint">Click a cell to see its probes: what was sent where, what came back, and why it got its verdict.</p>\n</section>`
  );
}

/** Agents grouped by role, in matrix order: the column groups. */
function roleGroups(agents: readonly MatrixAgent[]): Array<{ role: string | null; agents: MatrixAgent[] }> {
  const groups: Array<{ role: string | null; agents: MatrixAgent[] }> = [];
  for (const agent of agents) {
    const last = groups.at(-1);
    if (last && last.role === agent.role) last.agents.push(agent);
    else groups.push({ role: agent.role, agents: [agent] });
  }
  return groups;
}

/** The grid section's lines: one per row of the matrix. */
function* gridLines(matrix: Matrix): Generator<string, void, undefined> {
  if (matrix.agents.length === 0) {
    yield '<section class="grid"><h2>Matrix</h2><p class="empty">No agent has reported yet.</p></section>';
    return;
  }
  const groups = roleGroups(matrix.agents);
  const cells = new Map(matrix.cells.map((cell) => [`${cell.agent}\u0000${cell.row}`, cell]));
  yield* ['<section class="grid">', '<h2>Matrix</h2>', '<div class="scroll">', '<table class="matrix">', '<thead>'];
  const roleHeads = groups.map(
    (group) =>
      `<th colspan="${group.agents.length}" scope="colgroup" class="role">${escape(group.role ?? '(no role)')}</th>`,
  );
  yield `<tr><th rowspan="2" class="corner">row \\ agent</th>${roleHeads.join('')}</tr>`;
  yield `<tr>${matrix.agents.map((agent) => `<th scope="col" class="agent${agent.stale ? ' stale' : ''}">${escape(agent.name)}</th>`).join('')}</tr>`;
  yield* ['</thead>', '<tbody>'];
  for (const row of matrix.rows) {
    const rowCells = matrix.agents.map((agent) => renderCell(cells.get(`${agent.name}\u0000${row}`), agent, row));
    yield `<tr><th scope="row" class="row">${escape(row)}</th>${rowCells.join('')}</tr>`;
  }
  yield* ['</tbody>', '</table>', '</div>'];
  if (matrix.vanished?.length) {
    yield* [
      '<p class="vanished">In the baseline but no longer reported (counted as drift):</p>',
      '<ul class="vanished">',
    ];
    for (const cell of matrix.vanished)
      yield `<li>${escape(cell.agent)} · ${escape(cell.row)}: was ${escape(cell.baseline)}</li>`;
    yield '</ul>';
  }
  yield '</section>';
}

function renderCell(cell: MatrixCell | undefined, agent: MatrixAgent, row: string): string {
  if (!cell)
    return `<td class="cell none" data-agent="${escape(agent.name)}" data-row="${escape(row)}"><span class="none">·</span></td>`;
  const classes = [
    'cell',
    `v-${escape(cell.verdict)}`,
    ...(cell.stale ? ['stale'] : []),
    ...(cell.drift ? ['drift'] : []),
  ];
  const badges = [
    ...(cell.drift ? [`<span class="badge drift" title="drift">Δ</span>`] : []),
    ...(cell.stale ? ['<span class="badge stale">stale</span>'] : []),
  ];
  const count = `${cell.results.length} ${cell.results.length === 1 ? 'probe' : 'probes'}`;
  const heading = [`<h3>${escape(cell.row)} <span class="from">from</span> ${escape(cell.agent)}</h3>`];
  const stale = cell.stale ? '; the agent is <b>stale</b>' : '';
  const drift = cell.drift ? `; <b>drift</b>: the baseline says ${escape(cell.baseline ?? 'nothing (new cell)')}` : '';
  heading.push(
    `<p class="cell-verdict">Verdict <b class="verdict v-${escape(cell.verdict)}">${escape(cell.verdict)}</b>, ` +
      `worst of ${count}${stale}${drift}.</p>`,
  );
  heading.push(
    `<p class="hint">Agent ${escape(agent.name)} (${escape(agent.role ?? 'no role')}), report ` +
      `${escape(agent.report_id)} of ${escape(agent.last_report_at)}. Click the cell again or press Esc to close.</p>`,
  );
  return [
    `<td class="${classes.join(' ')}" data-agent="${escape(cell.agent)}" data-row="${escape(cell.row)}" data-verdict="${escape(cell.verdict)}">`,
    `<details><summary><span class="verdict">${escape(cell.verdict)}</span>${badges.join('')}<span class="count">${count}</span></summary>`,
    `<div class="evidence">${heading.join('\n')}<ol class="results">${cell.results.map(renderResult).join('\n')}</ol></div>`,
    '</details></td>',
  ].join('');
}

function renderResult(result: MatrixResult): string {
  const facts: Array<[string, string]> = [
    ['probe', `${result.kind} ${describeTarget(result)}`],
    ['expected', result.expect],
    ['state', result.state],
    ['reason', result.reason],
  ];
  if (result.check) facts.push(['check', `${result.check.ok ? 'ok' : 'not ok'}: ${result.check.detail}`]);
  if (result.rtt_ms !== undefined) facts.push(['rtt', formatMs(result.rtt_ms)]);
  facts.push(['attempts', String(result.attempts)]);
  if (result.icmp) facts.push(['icmp', `type ${result.icmp.type} code ${result.icmp.code} from ${result.icmp.from}`]);
  if (result.control) facts.push(['control', controlText(result)]);
  if (result.note) facts.push(['note', result.note]);
  facts.push(['started', result.started_at]);
  const evidence =
    result.evidence && Object.keys(result.evidence).length > 0
      ? `<pre class="json">${escape(JSON.stringify(result.evidence, null, 2))}</pre>`
      : '';
  const list = facts.map(([name, value]) => `<dt>${name}</dt><dd>${escape(value)}</dd>`).join('');
  return (
    `<li class="result v-${escape(result.verdict)}"><p><b class="verdict ` +
    `v-${escape(result.verdict)}">${escape(result.verdict)}</b> ${escape(result.kind)} ` +
    `${escape(describeTarget(result))}</p><dl>${list}</dl>${evidence}</li>`
  );
}

function controlText(result: MatrixResult): string {
  const seen = result.control_seen_by ?? [];
  if (seen.length > 0) return `${result.control}: target seen open by ${seenByText(result)}, so the block is proven`;
  const downgraded = result.reported_verdict ? ` (reported ${result.reported_verdict}, shown inconclusive)` : '';
  return `${result.control}: no agent of this role saw ${result.target.address ?? result.target.host} open, so the block proves nothing${downgraded}`;
}

const FLOW = { width: 640, box: 18, gap: 6, roleX: 8, roleWidth: 170, rowX: 420, rowWidth: 212, top: 8 } as const;

/** A small flow picture: roles on the left, rows on the right, each line the worst verdict of that role in that row. */
function renderFlow(matrix: Matrix): string {
  const roles = [...new Set(matrix.agents.map((agent) => agent.role ?? '(no role)'))];
  if (roles.length === 0 || matrix.rows.length === 0) return '';
  const step = FLOW.box + FLOW.gap;
  const height = FLOW.top * 2 + Math.max(roles.length, matrix.rows.length) * step;
  const yOf = (index: number, count: number): number =>
    FLOW.top + (height - FLOW.top * 2 - count * step) / 2 + index * step;
  const byRoleRow = new Map<string, Verdict[]>();
  for (const cell of matrix.cells) {
    const key = `${cell.role ?? '(no role)'}\u0000${cell.row}`;
    byRoleRow.set(key, [...(byRoleRow.get(key) ?? []), cell.verdict]);
  }
  const parts: string[] = [];
  roles.forEach((role, r) => {
    matrix.rows.forEach((row, w) => {
      const verdicts = byRoleRow.get(`${role}\u0000${row}`);
      if (!verdicts) return;
      const y1 = yOf(r, roles.length) + FLOW.box / 2;
      const y2 = yOf(w, matrix.rows.length) + FLOW.box / 2;
      const x1 = FLOW.roleX + FLOW.roleWidth;
      const x2 = FLOW.rowX;
      parts.push(
        `<path class="edge v-${escape(worstVerdict(verdicts))}" d="M${x1} ${y1.toFixed(1)} C${x1 + 90} ` +
          `${y1.toFixed(1)} ${x2 - 90} ${y2.toFixed(1)} ${x2} ` +
          `${y2.toFixed(1)}"><title>${escape(`${role} → ${row}: ${worstVerdict(verdicts)}`)}</title></path>`,
      );
    });
  });
  roles.forEach((role, r) => {
    const verdict = worstVerdict(
      matrix.cells.filter((cell) => (cell.role ?? '(no role)') === role).map((cell) => cell.verdict),
    );
    parts.push(flowBox(FLOW.roleX, yOf(r, roles.length), FLOW.roleWidth, role, verdict, `role ${role}: ${verdict}`));
  });
  matrix.rows.forEach((row, w) => {
    const verdict = worstVerdict(matrix.cells.filter((cell) => cell.row === row).map((cell) => cell.verdict));
    parts.push(flowBox(FLOW.rowX, yOf(w, matrix.rows.length), FLOW.rowWidth, row, verdict, `row ${row}: ${verdict}`));
  });
  return [
    '<section class="flow">',
    '<h2>Flow</h2>',
    `<svg class="flow" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${FLOW.width} ${height}" ` +
      `width="${FLOW.width}" height="${height}" role="img" aria-label="Roles and the rows they probe, coloured by verdict">`,
    ...parts,
    '</svg>',
    '</section>',
  ].join('\n');
}

function flowBox(x: number, y: number, width: number, label: string, verdict: Verdict, title: string): string {
  const shown = label.length > 30 ? `${label.slice(0, 29)}…` : label;
  return (
    `<g class="node v-${escape(verdict)}"><title>${escape(title)}</title><rect x="${x}" y="${y.toFixed(1)}" ` +
    `width="${width}" height="${FLOW.box}" rx="3"></rect><text x="${x + 6}" y="${(y + FLOW.box - 5).toFixed(1)}">${escape(shown)}</text></g>`
  );
}

function renderAgents(matrix: Matrix): string {
  if (matrix.agents.length === 0) return '';
  const rows = matrix.agents.map((agent) =>
    [
      `<tr${agent.stale ? ' class="stale"' : ''}>`,
      `<th scope="row">${escape(agent.name)}</th>`,
      `<td>${escape(agent.role ?? '-')}</td>`,
      `<td>${escape(agent.version)}</td>`,
      `<td>${escape(agent.profile?.name ?? '-')}</td>`,
      `<td class="hash">${escape(agent.profile?.hash ?? '-')}</td>`,
      `<td><time datetime="${escape(agent.last_report_at)}">${escape(agent.last_report_at)}</time></td>`,
      `<td>${agent.interval_s === undefined ? '-' : escape(`${agent.interval_s} s`)}</td>`,
      `<td>${agent.stale ? '<b>stale</b>' : 'current'}</td>`,
      '</tr>',
    ].join(''),
  );
  return [
    '<section class="agents">',
    '<h2>Agents</h2>',
    '<table class="agents"><thead><tr><th scope="col">agent</th><th scope="col">role</th><th ' +
      'scope="col">version</th><th scope="col">profile</th><th scope="col">profile sha256</th><th ' +
      'scope="col">last report</th><th scope="col">interval</th><th scope="col">status</th></tr></thead>',
    `<tbody>${rows.join('\n')}</tbody></table>`,
    '</section>',
  ].join('\n');
}

/**
 * The results section's lines (none without cells): every result, one line each, per agent: the printed evidence
 * of what was probed, from where, when, and what came back; a cell's results are one line of this list.
 */
function* resultLines(matrix: Matrix): Generator<string, void, undefined> {
  if (matrix.cells.length === 0) {
    yield '';
    return;
  }
  yield* ['<section class="all-results">', '<h2>Probe results</h2>'];
  const byAgent = new Map<string, MatrixCell[]>();
  for (const cell of matrix.cells) {
    const list = byAgent.get(cell.agent);
    if (list) list.push(cell);
    else byAgent.set(cell.agent, [cell]);
  }
  for (const agent of matrix.agents) {
    yield `<h3>${escape(agent.name)} <span class="from">(${escape(agent.role ?? 'no role')}, ${escape(agent.last_report_at)})</span></h3>`;
    yield (
      '<table class="results"><thead><tr><th scope="col">row</th><th scope="col">verdict</th><th ' +
      'scope="col">probe</th><th scope="col">expected</th><th scope="col">state</th><th ' +
      'scope="col">rtt</th><th scope="col">reason</th></tr></thead><tbody>'
    );
    for (const cell of byAgent.get(agent.name) ?? []) {
      if (cell.results.length === 0) continue;
      const lines = cell.results.map((result) => {
        const rtt = result.rtt_ms === undefined ? '-' : escape(formatMs(result.rtt_ms));
        const control = result.control ? `<br><span class="control">control ${escape(controlText(result))}</span>` : '';
        const columns = [
          `<td>${escape(cell.row)}</td>`,
          `<td class="verdict v-${escape(result.verdict)}">${escape(result.verdict)}</td>`,
          `<td>${escape(`${result.kind} ${describeTarget(result)}`)}</td>`,
          `<td>${escape(result.expect)}</td>`,
          `<td>${escape(result.state)}</td>`,
          `<td>${rtt}</td>`,
          `<td>${escape(result.reason)}${control}</td>`,
        ];
        return `<tr>${columns.join('')}</tr>`;
      });
      yield lines.join('\n');
    }
    yield '</tbody></table>';
  }
  yield '</section>';
}
