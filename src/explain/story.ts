import { isIP } from 'node:net';
import type { MatrixResult } from '../core/matrix.js';
import { seenByText, worstVerdict } from '../core/matrix.js';
import { percent } from '../core/path-loss.js';
import type { Overlap, ProbeResult, Verdict } from '../core/result.js';
import { routeOf, routeText, type RouteEvidence } from '../core/route.js';
import { summarize } from '../core/verdict.js';
import { formatEndpoint } from '../net/target.js';
import { adviceFor, checkAdvice, controlAdvice, GUIDE_PATH, type Advice, type Guide } from './guide.js';
import type { EntryOrigin } from './origins.js';

/** Where a row's results come from. */
export type ExplainMode = 'report' | 'coordinator' | 'live';

/** Whether the results' controls were judged (against the reports or agents at hand), and if not, why. */
export type ControlJudging =
  { judged: true; roles: readonly string[]; missingHint: string } | { judged: false; why: string };

/** Everything known about one agent's row: the input of {@link buildStory}. */
export interface RowEvidence {
  mode: ExplainMode;
  /** Where it was read: a file, a coordinator URL, or the profiles run here. */
  from: string;
  row: string;
  agent: string;
  role: string | null;
  site: string | null;
  /** The row's results; with controls judged, matrix results. */
  results: MatrixResult[];
  control: ControlJudging;
  /** The profile entries that made the row's probes, with the site's values; empty when not at hand. */
  origins: EntryOrigin[];
  /** Why the entries are not shown, when they are not. */
  originsNote?: string;
  /** The run's overlaps and not-proven entries. */
  overlaps: readonly Overlap[];
  notProven: ReadonlyArray<{ row: string; text: string }>;
  /** What to say of a result without a recorded route. */
  routeNote: string;
  /** The matrix cell (coordinator, or reports with a baseline). */
  cell?: { verdict: Verdict; stale: boolean; drift: boolean; baseline?: string };
  /** Whether a baseline was at hand to compare with, and if not, what to say. */
  baselineNote?: string;
}

/** One step of a row's story: a title, its lines for a reader, and its facts for a program. */
export interface Step {
  step: number;
  title: string;
  lines: string[];
  facts: unknown;
}

/** One row's story, step by step: what `reachgate explain` prints. */
export interface Story {
  row: string;
  agent: string;
  role: string | null;
  site: string | null;
  mode: ExplainMode;
  from: string;
  /** The row's verdict: the worst of its results, controls judged. */
  verdict: Verdict;
  /** The worst verdict the agent itself reported, when the matrix changed it. */
  reported_verdict?: Verdict;
  steps: Step[];
}

/** Lines listed per step at most; the JSON form's facts hold every probe. */
export const LINES_MAX = 12;

/** Tell one row's story from what is known about it; `guide` is null when the troubleshooting guide is not installed. */
export function buildStory(evidence: RowEvidence, guide: Guide | null): Story {
  const { results } = evidence;
  const verdict = evidence.cell?.verdict ?? worstVerdict(results.map((result) => result.verdict));
  const reported = worstVerdict(results.map((result) => result.reported_verdict ?? result.verdict));
  const steps = [
    originStep(evidence),
    resolutionStep(results),
    routeStep(evidence),
    sentStep(evidence),
    answerStep(results),
    controlStep(evidence),
    verdictStep(evidence, verdict, reported),
    nextStep(results, guide),
  ].map((step, index) => ({ step: index + 1, ...step }));
  return {
    row: evidence.row,
    agent: evidence.agent,
    role: evidence.role,
    site: evidence.site,
    mode: evidence.mode,
    from: evidence.from,
    verdict,
    ...(reported !== verdict ? { reported_verdict: reported } : {}),
    steps,
  };
}

type StepBody = Omit<Step, 'step'>;

/** `tcp 198.51.100.10:5900/tcp` (the name when it did not resolve). */
export function endpointOf(result: ProbeResult): string {
  const { host, address, port, protocol } = result.target;
  const where = address === null ? (port === null ? host : `${host}:${port}`) : formatEndpoint(address, port);
  return `${result.kind} ${where}/${protocol}`;
}

/**
 * Per-result lines, results whose lines differ only in port and numbers merged into one line with their ports:
 * "tcp 198.51.100.10 ports 1-21, 23-1024 (1018 probes): closed: refused ...". At most {@link LINES_MAX} lines.
 */
function listed(results: readonly ProbeResult[], say: (result: ProbeResult) => string[]): string[] {
  const groups = new Map<string, { first: ProbeResult; lines: string[]; ports: number[] }>();
  for (const result of results) {
    const lines = say(result);
    const subject = `${result.kind} ${result.target.address ?? result.target.host}/${result.target.protocol}`;
    const key = `${subject}|${lines.join('\n').replace(/\d+(\.\d+)?/g, '#')}`;
    const group = groups.get(key);
    if (group) group.ports.push(result.target.port ?? 0);
    else groups.set(key, { first: result, lines, ports: [result.target.port ?? 0] });
  }
  const out: string[] = [];
  let shown = 0;
  for (const { first, lines, ports } of groups.values()) {
    if (shown === LINES_MAX) {
      out.push(`… and ${groups.size - shown} more (--json lists every probe)`);
      break;
    }
    shown += 1;
    const head =
      ports.length === 1
        ? `${endpointOf(first)}:`
        : `${first.kind} ${first.target.address ?? first.target.host} ports ${portRanges(ports)}/${first.target.protocol} ` +
          `(${ports.length} probes, e.g. port ${first.target.port}):`;
    const opening = lines[0] ?? '';
    out.push(opening ? `${head} ${opening}` : head.replace(/:$/, ''), ...lines.slice(1).map((line) => `  ${line}`));
  }
  return out;
}

/** "1-21, 23-1024, 3389" (the first ranges, then how many more). */
export function portRanges(ports: readonly number[]): string {
  const sorted = [...new Set(ports)].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j += 1;
    ranges.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return ranges.length <= 6
    ? ranges.join(', ')
    : `${ranges.slice(0, 6).join(', ')} and ${ranges.length - 6} more ranges`;
}

function originStep(evidence: RowEvidence): StepBody {
  const lines: string[] = [];
  for (const origin of evidence.origins) {
    const written = [
      `${origin.kind} to ${origin.target.join(', ')}`,
      origin.ports === undefined ? `the kind's standard port` : `ports ${JSON.stringify(origin.ports)}`,
      ...(Object.keys(origin.options).length > 0 ? [`options ${JSON.stringify(origin.options)}`] : []),
      `expect ${origin.expect}`,
      ...(origin.feature ? [`feature ${origin.feature}`] : []),
      ...(origin.control ? [`control ${origin.control}`] : []),
    ];
    lines.push(`${origin.profile} entry ${origin.entry} (${origin.file}:${origin.line}): ${written.join(', ')}`);
    const site = origin.site;
    if (!site) continue;
    const bound = site.hosts.map(({ variable, hosts }) => `${variable} = ${hosts.join(', ') || '(not named)'}`);
    const settings = Object.entries(site.settings).map(([name, value]) => `settings.${name} = ${String(value)}`);
    lines.push(`  site ${site.site}: ${[...bound, ...settings].join('; ')}`);
    if (site.fallback)
      lines.push(`  no target variable is named at ${site.site}: the fallback ${site.fallback} is probed`);
    if (origin.feature) {
      lines.push(
        site.in_use
          ? `  feature ${origin.feature} is in use at ${site.site}: expected ${site.expect}`
          : `  feature ${origin.feature} is not in use at ${site.site}: the path must be closed, expected ${site.expect}`,
      );
    }
    if (site.skipped) lines.push(`  made no probe here: ${site.skipped}`);
  }
  if (evidence.originsNote) lines.push(evidence.originsNote);
  const expects = summarizeExpect(evidence.results);
  lines.push(`${evidence.results.length === 1 ? 'one probe' : `${evidence.results.length} probes`} ${expects}:`);
  lines.push(
    ...listed(evidence.results, (result) => [result.note ? `(${result.note})` : '']).map((line) => `  ${line}`),
  );
  const overlaps = evidence.overlaps.filter((overlap) => overlap.row === evidence.row || overlap.kept === evidence.row);
  for (const overlap of overlaps.slice(0, LINES_MAX)) {
    const where = `${overlap.target}${overlap.port === null ? '' : `:${overlap.port}`}/${overlap.protocol}`;
    lines.push(
      overlap.row === evidence.row
        ? `left out: ${where}: ${overlap.reason}`
        : `also stands for row ${overlap.row} on ${where}: ${overlap.reason}`,
    );
  }
  const notProven = evidence.notProven.filter((entry) => entry.row === evidence.row);
  for (const entry of notProven) lines.push(`not proven by this row: ${entry.text}`);
  return {
    title: 'The profile entries and site values that made the probes',
    lines,
    facts: {
      origins: evidence.origins,
      ...(evidence.originsNote ? { note: evidence.originsNote } : {}),
      probes: evidence.results.map((result) => ({ id: result.id, expect: result.expect, note: result.note })),
      overlaps,
      not_proven: notProven,
    },
  };
}

function summarizeExpect(results: readonly ProbeResult[]): string {
  const expects = [...new Set(results.map((result) => result.expect))];
  return expects.length === 1 ? `expected ${expects[0]}` : 'expected reachable or blocked';
}

function resolutionStep(results: readonly ProbeResult[]): StepBody {
  const hosts = new Map<string, { addresses: Set<string>; error?: string }>();
  for (const result of results) {
    let host = hosts.get(result.target.host);
    if (!host) hosts.set(result.target.host, (host = { addresses: new Set() }));
    if (result.target.address !== null) host.addresses.add(result.target.address);
    else if (result.state === 'unresolved') host.error = result.reason;
  }
  const facts = [...hosts].map(([host, { addresses, error }]) => ({
    host,
    addresses: [...addresses],
    ...(error ? { error } : {}),
  }));
  const lines = facts.slice(0, LINES_MAX).map((fact) => {
    if (fact.error) return `${fact.host}: not resolved, nothing was sent: ${fact.error}`;
    if (isIP(fact.host) !== 0) return `${fact.host} is an address: nothing to resolve`;
    return `${fact.host} → ${fact.addresses.join(', ')} (each address probed on its own)`;
  });
  if (facts.length > LINES_MAX) lines.push(`… and ${facts.length - LINES_MAX} more hosts`);
  return { title: 'Resolution: names to addresses', lines, facts };
}

/** The recorded route toward each address of the results (null: none recorded); a sweep records it once per address. */
function routesByAddress(results: readonly ProbeResult[]): Map<string, RouteEvidence | null> {
  const routes = new Map<string, RouteEvidence | null>();
  for (const result of results) {
    if (result.target.address === null || routes.get(result.target.address)) continue;
    routes.set(result.target.address, routeOf(result) ?? null);
  }
  return routes;
}

function routeStep(evidence: RowEvidence): StepBody {
  const routes = routesByAddress(evidence.results);
  const facts = [...routes].map(([address, route]) => ({ address, route }));
  const lines = facts
    .slice(0, LINES_MAX)
    .map(
      ({ address, route }) =>
        `${address}: ${route ? routeText(route) : `could not be determined: ${evidence.routeNote}`}`,
    );
  if (facts.length > LINES_MAX) lines.push(`… and ${facts.length - LINES_MAX} more addresses`);
  if (facts.length === 0) lines.push('no address was resolved: nothing was sent, no route was used');
  return { title: 'Source address and route (what `ip route get` says)', lines, facts };
}

function sentStep(evidence: RowEvidence): StepBody {
  const optionsOf = (kind: string): string => {
    const options = [...new Set(evidence.origins.filter((o) => o.kind === kind).map((o) => JSON.stringify(o.options)))];
    return options.length === 1 && options[0] !== '{}' ? ` with options ${options[0]}` : '';
  };
  const say = (result: ProbeResult): string[] => {
    if (result.target.address === null) return ['nothing was sent (the name did not resolve)'];
    const attempts = result.attempts === 1 ? '1 attempt' : `${result.attempts} attempts`;
    return [`${attempts}${optionsOf(result.kind)}, started ${result.started_at}`];
  };
  return {
    title: 'What was sent',
    lines: listed(evidence.results, say),
    facts: evidence.results.map((result) => ({
      id: result.id,
      kind: result.kind,
      target: result.target,
      attempts: result.attempts,
      started_at: result.started_at,
    })),
  };
}

/** Who sent an ICMP error, in relation to the route toward the target and the target itself. */
function senderText(result: ProbeResult, from: string, route: RouteEvidence | undefined): string {
  if (from === result.target.address) return `${from}, the target itself`;
  if (route?.gateway === from) return `${from}, the first router on the route (step 3)`;
  return `${from}, a router on the way`;
}

function silenceText(silence: Record<string, unknown>, address: string | null): string {
  const rounds =
    typeof silence.rounds === 'number' ? ` in ${silence.rounds} round${silence.rounds === 1 ? '' : 's'}` : '';
  const head = `silent to ${silence.attempts === 1 ? '1 attempt' : `${String(silence.attempts)} attempts`}${rounds}`;
  if (silence.loss === null || silence.loss === undefined) {
    return `${head}; loss not measured${typeof silence.loss_note === 'string' ? `: ${silence.loss_note}` : ''}`;
  }
  const probes = silence.loss_probes as { sent?: number; lost?: number } | undefined;
  return (
    `${head}; loss to ${address ?? 'the address'} measured ${percent(Number(silence.loss))}` +
    ` (${probes?.lost ?? '?'} of ${probes?.sent ?? '?'} loss probes lost; at most ${percent(Number(silence.loss_upper))})`
  );
}

function answerStep(results: readonly ProbeResult[]): StepBody {
  const routes = routesByAddress(results);
  const say = (result: ProbeResult): string[] => {
    const lines = [`${result.state}: ${result.reason}`];
    const route = routes.get(result.target.address ?? '') ?? undefined;
    if (result.icmp)
      lines.push(`ICMP ${result.icmp.type}/${result.icmp.code} from ${senderText(result, result.icmp.from, route)}`);
    else if (result.state === 'open' && result.target.address !== null)
      lines.push(`answered by ${result.target.address}${result.rtt_ms === undefined ? '' : ` in ${result.rtt_ms} ms`}`);
    if (result.check) lines.push(`check ${result.check.ok ? 'ok' : 'failed'}: ${result.check.detail}`);
    const trace = result.evidence?.trace as { summary?: unknown } | undefined;
    if (typeof trace?.summary === 'string' && !result.reason.includes(trace.summary))
      lines.push(`trace: ${trace.summary}`);
    const silence = result.evidence?.silence;
    if (silence !== null && typeof silence === 'object')
      lines.push(silenceText(silence as Record<string, unknown>, result.target.address));
    return lines;
  };
  return {
    title: 'The first answer, or silence, and from whom',
    lines: listed(results, say),
    facts: results.map((result) => ({
      id: result.id,
      state: result.state,
      reason: result.reason,
      ...(result.rtt_ms === undefined ? {} : { rtt_ms: result.rtt_ms }),
      ...(result.icmp ? { icmp: result.icmp } : {}),
      ...(result.check ? { check: result.check } : {}),
      ...(result.evidence?.trace ? { trace: result.evidence.trace } : {}),
      ...(result.evidence?.silence ? { silence: result.evidence.silence } : {}),
    })),
  };
}

function controlStep(evidence: RowEvidence): StepBody {
  const controlled = evidence.results.filter((result) => result.expect === 'blocked' && result.control);
  const title = 'The control, and who met it';
  const confirmed = evidence.results.filter((result) => result.confirm);
  if (confirmed.length > 0) {
    // One-way rows: the far side's receipt of the probe's nonce is the proof, judged at the coordinator.
    const lines = listed(confirmed, (result) => {
      const receipt = result.evidence?.receipt as { responder?: string; received_at?: string } | undefined;
      return [
        receipt?.responder
          ? `delivery confirmed by responder ${receipt.responder} (role ${result.confirm}) at ${receipt.received_at}`
          : `delivery is proven only by a receipt of responder role ${result.confirm}; none is recorded here`,
      ];
    });
    return {
      title: 'The confirmation, and who gave it',
      lines,
      facts: {
        controlled: false,
        confirm: confirmed.map((r) => ({ id: r.id, confirm: r.confirm, receipt: r.evidence?.receipt ?? null })),
      },
    };
  }
  if (controlled.length === 0) {
    const blocked = evidence.results.some((result) => result.expect === 'blocked');
    const line = blocked
      ? 'no control: the negative probes of this row name none, so their block stands on its own'
      : 'no control: the row expects the path open, and an answer from the target is its own proof';
    return { title, lines: [line], facts: { controlled: false } };
  }
  const { control } = evidence;
  if (!control.judged) {
    const roles = [...new Set(controlled.map((result) => result.control!))];
    return {
      title,
      lines: [`control role ${roles.join(', ')}: not judged: ${control.why}`],
      facts: { controlled: true, judged: false, roles, why: control.why },
    };
  }
  const byAddress = new Map<string, MatrixResult>();
  for (const result of controlled) {
    const key = `${result.control}|${result.target.address ?? result.target.host}`;
    if (!byAddress.has(key)) byAddress.set(key, result);
  }
  const facts = [...byAddress.values()].map((result) => ({
    control: result.control!,
    address: result.target.address,
    met: (result.control_seen_count ?? 0) > 0,
    seen_by: result.control_seen_by ?? [],
    seen_count: result.control_seen_count ?? 0,
    role_at_hand: control.roles.includes(result.control!),
  }));
  const lines = [...byAddress.values()].slice(0, LINES_MAX).map((result, index) => {
    const fact = facts[index]!;
    const address = fact.address ?? result.target.host;
    if (fact.met) return `${address}: met: ${fact.control} agent(s) ${seenByText(result)} saw it open`;
    const why = fact.role_at_hand
      ? `no ${fact.control} agent saw it open in its latest report`
      : `no agent of role ${fact.control} is at hand (${control.missingHint})`;
    return `${address}: missing: ${why}; a block not proven by its control is inconclusive`;
  });
  if (byAddress.size > LINES_MAX) lines.push(`… and ${byAddress.size - LINES_MAX} more addresses`);
  return { title, lines, facts: { controlled: true, judged: true, addresses: facts } };
}

function verdictStep(evidence: RowEvidence, verdict: Verdict, reported: Verdict): StepBody {
  const counts = summarize(evidence.results.map((result) => result.verdict));
  const parts = Object.entries(counts)
    .filter(([, count]) => count > 0)
    .map(([name, count]) => `${count} ${name}`);
  const count = evidence.results.length;
  const lines = [`${verdict}: the worst of ${count} probe verdict${count === 1 ? '' : 's'} (${parts.join(', ')})`];
  if (reported !== verdict) {
    const changed = evidence.results.filter((result) => result.reported_verdict !== undefined).length;
    lines.push(
      `the agent reported ${reported}; ${changed} probe${changed === 1 ? '' : 's'} made ${verdict} ` +
        'because the control did not see the target open (step 6)',
    );
  }
  const cell = evidence.cell;
  if (cell?.stale) lines.push('the agent is stale: its latest report is older than twice its interval');
  if (cell && cell.baseline !== undefined) {
    lines.push(
      cell.drift
        ? `drift: the accepted baseline says ${cell.baseline}, now ${verdict}`
        : `as accepted: the baseline says ${cell.baseline}`,
    );
  } else if (cell && evidence.baselineNote === undefined) {
    lines.push('drift: the accepted baseline does not name this cell');
  }
  if (evidence.baselineNote) lines.push(evidence.baselineNote);
  return {
    title: "The verdict, and the baseline's",
    lines,
    facts: {
      verdict,
      reported_verdict: reported,
      counts,
      ...(cell ? { stale: cell.stale, drift: cell.drift, baseline: cell.baseline ?? null } : {}),
    },
  };
}

/** The advice for one result, and whether it passed (then nothing is to be fixed). */
function adviceOf(result: MatrixResult, guide: Guide): Advice {
  if (result.reported_verdict !== undefined && result.verdict === 'inconclusive') return controlAdvice(guide);
  if (result.state === 'open' && result.check && !result.check.ok)
    return checkAdvice(guide, result.check.detail, result.reason);
  return adviceFor(guide, result.state, result.reason);
}

function nextStep(results: readonly MatrixResult[], guide: Guide | null): StepBody {
  const title = 'What to check next (from the troubleshooting guide)';
  const failing = results.filter((result) => result.verdict !== 'pass');
  // A passing row needs nothing; for a block, the guide still says where the block is.
  const explained = failing.length > 0 ? failing : results.filter((result) => result.state !== 'open');
  const lines: string[] = [failing.length === 0 ? 'nothing to fix: every probe of the row passed' : ''].filter(Boolean);
  if (explained.length === 0) return { title, lines, facts: [] };
  if (failing.length === 0) lines.push("where the block is, in the guide's words:");
  if (!guide) {
    const sections = [...new Set(explained.map((result) => result.state))];
    lines.push(
      `the troubleshooting guide is not installed here; read ${sections.map((state) => `${GUIDE_PATH}#${state}`).join(', ')} ` +
        "in reachgate's sources",
    );
    return { title, lines, facts: sections.map((state) => ({ section: `${GUIDE_PATH}#${state}`, items: [] })) };
  }
  const groups = new Map<string, { advice: Advice; results: MatrixResult[] }>();
  for (const result of explained) {
    const advice = adviceOf(result, guide);
    const key = JSON.stringify([advice.section, advice.items]);
    const group = groups.get(key);
    if (group) group.results.push(result);
    else groups.set(key, { advice, results: [result] });
  }
  for (const { advice, results: members } of groups.values()) {
    const who =
      members.length === 1 ? endpointOf(members[0]!) : `${members.length} probes (${endpointOf(members[0]!)}, …)`;
    lines.push(`${who}: see ${advice.section}`);
    if (advice.glance) lines.push(`  likely causes: ${advice.glance.causes}; next: ${advice.glance.next}`);
    for (const item of advice.items) {
      item.forEach((line, index) => lines.push(`  ${index === 0 ? '- ' : '  '}${line}`));
    }
  }
  return {
    title,
    lines,
    facts: [...groups.values()].map(({ advice, results: members }) => ({
      probes: members.map((result) => result.id),
      section: advice.section,
      ...(advice.glance ? { glance: advice.glance } : {}),
      items: advice.items,
    })),
  };
}
