// Benchmark: the workstation acceptance run with `sweep: full` (every TCP port of tightgate) behind a drop rule,
// 1 s deadline, in connect mode as shipped and in SYN mode (the built-in profile with `scan: auto` on every tcp
// probe: SYNs from a raw socket wherever a probe proves the state only; the viewer row keeps its TLS connect).
//
// The topology of workstation-acceptance.mjs: workstation - router (drops all but tightgate:5900) - far end. Every
// swept port is silent, and the viewer answers at the same address, so the silence rounds measure the path's loss
// and retry the silent ports until loss cannot explain their silence (docs/silence.md): several rounds of 65,534
// ports each. Both modes run at the same --concurrency, alternating.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { deleteNamespace, netnsUnavailable } from './lib/netns.mjs';
import { REACHGATE, ROOT, median, row, timed } from './lib/measure.mjs';
import { answerOf, buildTopology, reachgateArgs, siteYaml, startViewer, TIGHTGATE } from './workstation-acceptance.mjs';

const CONCURRENCY = 4096;
const RUN_TIMEOUT_MS = 1_200_000;

export const title = 'Workstation acceptance run with `sweep: full`: connect mode against SYN mode, behind a drop rule';

/** The built-in workstation profile with `scan: auto` on every tcp probe. */
function synProfile() {
  const profile = parse(readFileSync(join(ROOT, 'profiles', 'tightgate', 'workstation.yaml'), 'utf8'));
  for (const probe of profile.probes) if (probe.kind === 'tcp') probe.options = { ...probe.options, scan: 'auto' };
  return stringify(profile);
}

const args = (profile, siteFile) => [...reachgateArgs(siteFile, profile), '--concurrency', String(CONCURRENCY)];

/** Measure `reps` runs per mode, alternating; returns the figures for BENCHMARKS.md. */
export default async function workstationFull({ reps = 1 } = {}) {
  const unavailable = netnsUnavailable();
  if (unavailable) return { title, skipped: `needs root and network namespaces: ${unavailable}` };
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-bench-full-'));
  const siteFile = join(dir, 'site.yaml');
  const synFile = join(dir, 'workstation-syn.yaml');
  writeFileSync(siteFile, siteYaml('full'));
  writeFileSync(synFile, synProfile());
  const { workstation, far, namespaces } = buildTopology();
  let viewer;
  const modes = { connect: 'tightgate/workstation', syn: synFile };
  const samples = { connect: [], syn: [] };
  try {
    viewer = await startViewer(far, dir);
    for (let i = 0; i < reps; i++) {
      for (const mode of i % 2 === 0 ? ['connect', 'syn'] : ['syn', 'connect']) {
        const measured = await timed([process.execPath, REACHGATE, ...args(modes[mode], siteFile)], {
          ns: workstation,
          timeoutMs: RUN_TIMEOUT_MS,
        });
        const answer = measured.timedOut ? { wrong: `killed after ${RUN_TIMEOUT_MS} ms` } : answerOf(measured);
        const report = measured.timedOut ? undefined : JSON.parse(measured.stdout);
        const swept = report?.results.filter((result) => result.row === 'tightgate-only-intended') ?? [];
        samples[mode].push({
          wallMs: measured.timedOut ? NaN : measured.wallMs,
          rssKiB: measured.maxRssKiB,
          cpuMs: measured.cpuMs,
          syn: report?.results.filter((result) => result.evidence?.scan === 'syn').length ?? 0,
          attempts: median(swept.map((result) => result.attempts)),
          rounds: median(swept.map((result) => result.evidence?.silence?.rounds ?? 1)),
          ...answer,
        });
      }
    }
  } finally {
    viewer?.kill('SIGKILL');
    for (const ns of namespaces) deleteNamespace(ns);
    rmSync(dir, { recursive: true, force: true });
  }
  const pick = (mode, key) => median(samples[mode].map((sample) => sample[key]));
  const wrong = (mode) => samples[mode].filter((sample) => sample.wrong);
  const invalid = ['connect', 'syn']
    .filter((mode) => wrong(mode).length > 0)
    .map((mode) => `${mode}: wrong answer in ${wrong(mode).length}/${reps} runs: ${wrong(mode)[0].wrong}`)
    .join('; ');
  return {
    title,
    setup:
      'The topology of the workstation acceptance benchmark (router forward policy drop, only workstation -> ' +
      `${TIGHTGATE}:5900 accepted; a TLS listener there), with \`sweep: full\`: every TCP port of tightgate but the ` +
      `viewer's is swept and silent. Both modes at --concurrency ${CONCURRENCY}; ${reps} run(s) each, alternating; ` +
      'median wall time from spawn to exit.',
    commands: {
      reachgate: `node bin/reachgate ${args('workstation-syn.yaml', 'site.yaml').join(' ')}   (tcp probes with scan: auto)`,
      peer: `node bin/reachgate ${args('tightgate/workstation', 'site.yaml').join(' ')}   (as shipped: connect mode)`,
    },
    peer: 'connect mode',
    rows: [
      row({
        metric: 'wall time, full acceptance run (SYN mode / connect mode)',
        unit: 'ms',
        reachgate: pick('syn', 'wallMs'),
        peer: pick('connect', 'wallMs'),
        ...(invalid ? { invalid } : {}),
      }),
      row({
        metric: 'CPU time user+sys (reference)',
        unit: 'ms',
        reachgate: pick('syn', 'cpuMs'),
        peer: pick('connect', 'cpuMs'),
      }),
      row({
        metric: 'peak RSS (reference)',
        unit: 'KiB',
        reachgate: pick('syn', 'rssKiB'),
        peer: pick('connect', 'rssKiB'),
      }),
      row({
        metric: 'attempts per swept port, median (reference)',
        unit: 'count',
        reachgate: pick('syn', 'attempts'),
        peer: pick('connect', 'attempts'),
      }),
    ],
    samples: {
      'SYN mode wall ms': samples.syn.map((sample) => sample.wallMs),
      'connect mode wall ms': samples.connect.map((sample) => sample.wallMs),
    },
    notes: [
      `Probes that ran in SYN mode per SYN run: ${samples.syn.map((sample) => sample.syn).join(', ')}; rounds of ` +
        `the silence rounds (median per swept port): SYN ${pick('syn', 'rounds')}, connect ${pick('connect', 'rounds')}.`,
      `Correctness: every probe passed (viewer open, the rest filtered) in ${reps - wrong('syn').length}/${reps} SYN ` +
        `runs and ${reps - wrong('connect').length}/${reps} connect runs.`,
      ...(invalid ? [`Wrong answers: ${invalid}`] : []),
    ],
  };
}
