// Run every benchmark in bench/ and rewrite BENCHMARKS.md.
//
//   node bench/run.mjs [NAME...] [--reps N] [--no-write]      (npm run bench builds first)
//
// A benchmark is a top-level bench/*.mjs file other than this one; it exports `title` and a
// default async function ({ reps }) returning { title, setup, commands, peer, rows, samples,
// notes } or { title, skipped }. Helpers live in bench/lib/, tools in bench/tools/.
// Network safety: benchmarks only send to loopback or to namespaces they create (bench/lib/netns.mjs).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

// Not imported from lib/measure.mjs: that module reads REACHGATE_BENCH_BUILD when first loaded,
// which must happen after the snapshot below.
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

const BENCH_DIR = join(ROOT, 'bench');
const OUT = join(ROOT, 'BENCHMARKS.md');

const USAGE = `usage: node bench/run.mjs [NAME...] [--reps N] [--no-write]
  NAME        run only these benchmarks (file names in bench/ without .mjs; BENCHMARKS.md
              then holds only these); default: all
  --reps N    repetitions per side (default: each benchmark's own, e.g. 5; cold-start 20)
  --no-write  print the Markdown on stdout instead of rewriting BENCHMARKS.md
  --no-snapshot  run the working tree's bin/ and dist/ instead of a copy taken at the start
`;
let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      reps: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
      'no-snapshot': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch (error) {
  process.stderr.write(`bench: ${error.message}\n${USAGE}`);
  process.exit(2);
}
const { values: flags, positionals } = parsed;
if (flags.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const reps = flags.reps === undefined ? undefined : Number(flags.reps);
if (reps !== undefined && !(Number.isInteger(reps) && reps >= 1 && reps <= 50)) {
  process.stderr.write('bench: --reps must be a whole number from 1 to 50\n');
  process.exit(2);
}

function quiet(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function machine() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const processors = (cpuinfo.match(/^processor\s*:/gm) ?? []).length || os.cpus().length;
  const memKiB = Number(
    /^MemTotal:\s+(\d+) kB/m.exec(existsSync('/proc/meminfo') ? readFileSync('/proc/meminfo', 'utf8') : '')?.[1] ??
      os.totalmem() / 1024,
  );
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const commit = quiet('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  const dirty = quiet('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src', 'probes', 'bin']);
  return {
    cpu: model,
    cores: `${processors} logical (${os.availableParallelism?.() ?? processors} available to Node)`,
    memory: `${(memKiB / 1024 / 1024).toFixed(1)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    nmap: quiet('nmap', ['--version'])?.split('\n')[0] ?? 'not installed',
    load: loadAverage(),
    build: buildHash(),
    snapshot: null,
    reachgate: `${pkg.version}${commit ? ` (git ${commit}${dirty ? ', with uncommitted changes in src/probes/bin' : ''})` : ''}`,
  };
}

/**
 * Copy the build as a package would install it (bin/, dist/, profiles/, the sweep engine, package.json; node_modules
 * linked, not copied) so every benchmark of the run measures the same code even when the working
 * tree is rebuilt meanwhile. Removed at exit.
 */
function snapshotBuild() {
  const dir = mkdtempSync(join(os.tmpdir(), 'reachgate-bench-build-'));
  const modules = join(dir, 'node_modules');
  process.on('exit', () => {
    try {
      unlinkSync(modules);
    } catch {
      /* not linked yet */
    }
    rmSync(dir, { recursive: true, force: true });
  });
  // native/build: the sweep engine's addon (scripts/build-native.mjs), loaded from the package root.
  for (const part of ['bin', 'bundle', 'dist', 'profiles', 'native/build/Release']) {
    if (existsSync(join(ROOT, part))) cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  }
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), modules, 'dir');
  const check = quiet(process.execPath, [join(dir, 'bin', 'reachgate'), '--version']);
  if (check === null) throw new Error(`the copy of the build in ${dir} does not run (\`reachgate --version\` failed)`);
  return dir;
}

/** Where the hand-measured sections of BENCHMARKS.md begin (e.g. the package's): a run keeps what follows. */
const KEPT_MARKER = '<!-- Hand-measured sections below: bench/run.mjs keeps them when it rewrites this file. -->';

/** The hand-measured tail of the current BENCHMARKS.md, from its marker on; empty when there is none. */
function keptSections() {
  if (!existsSync(OUT)) return '';
  const text = readFileSync(OUT, 'utf8');
  const at = text.indexOf(KEPT_MARKER);
  return at < 0 ? '' : `\n${text.slice(at)}`;
}

/** A hash of the compiled code (dist/, bin/) under `root`. */
function buildHash(root = ROOT) {
  const hash = createHash('sha256');
  const walk = (dir) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) hash.update(relative(root, path)).update(readFileSync(path));
    }
  };
  walk(join(root, 'dist'));
  walk(join(root, 'bundle'));
  walk(join(root, 'bin'));
  return hash.digest('hex').slice(0, 12);
}

function loadAverage() {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
}

function formatValue(value, unit) {
  if (value === null || value === undefined) return '-';
  if (!Number.isFinite(value)) return 'n/a';
  switch (unit) {
    case 'ms':
      return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(0)} ms`;
    case 'MiB':
      return `${value.toFixed(1)} MiB`;
    case 'KiB':
      return `${(value / 1024).toFixed(1)} MiB`;
    case 'count':
      return String(Math.round(value));
    default:
      return `${value} ${unit}`;
  }
}

function escapeCell(text) {
  return String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function resultWord(row) {
  if (row.met === null) return row.invalid ? `invalid: ${row.invalid}` : '(reference)';
  if (row.invalid) return `**missed** (invalid: ${row.invalid})`;
  return row.met ? 'met' : '**missed**';
}

function renderBenchmark(index, name, bench) {
  const lines = [`## ${index}. ${bench.title ?? name}`, '', `File: \`bench/${name}.mjs\``, ''];
  if (bench.error) return [...lines, `**Did not run:** ${bench.error}`, ''];
  if (bench.skipped) return [...lines, `**Skipped:** ${bench.skipped}`, ''];
  if (bench.setup) lines.push(bench.setup, '');
  if (bench.commands) {
    lines.push(`- reachgate: \`${bench.commands.reachgate}\``, `- ${bench.peer}: \`${bench.commands.peer}\``);
    if (bench.commands.reference) lines.push(`- reference: \`${bench.commands.reference}\``);
    lines.push('');
  }
  lines.push(
    `| figure | reachgate | ${bench.peer} | ratio (reachgate / ${bench.peer}) | goal | result |`,
    '|---|---:|---:|---:|---|---|',
  );
  for (const row of bench.rows ?? []) {
    lines.push(
      `| ${escapeCell(row.metric)} | ${formatValue(row.reachgate, row.unit)} | ${formatValue(row.peer, row.unit)} ` +
        `| ${row.ratio === null ? '-' : row.ratio.toFixed(2)} | ${escapeCell(row.goal ?? '-')} | ${escapeCell(resultWord(row))} |`,
    );
  }
  lines.push('');
  for (const note of bench.notes ?? []) lines.push(`- ${note}`);
  if (bench.notes?.length) lines.push('');
  if (bench.samples) {
    lines.push('<details><summary>All samples</summary>', '');
    for (const [label, values] of Object.entries(bench.samples)) {
      lines.push(`- ${label}: ${values.map((v) => (Number.isFinite(v) ? Math.round(v) : 'n/a')).join(', ')}`);
    }
    lines.push('', '</details>', '');
  }
  lines.push(`Took ${(bench.elapsedMs / 1000).toFixed(1)} s.`, '');
  return lines;
}

function render(info, started, results, loadEnd, buildEnd) {
  const lines = [
    '# Benchmarks',
    '',
    'Generated by `npm run bench` (`bench/run.mjs`); rewritten on every run, do not edit by hand.',
    'Each figure is the median of repeated runs, reachgate and its peer alternating in the same run.',
    'Lower is better; ratio = reachgate / peer. Traffic goes only to loopback or to network namespaces',
    'the benchmarks create (documentation addresses), per DESIGN.md "Network safety".',
    '',
    '## Machine',
    '',
    '| | |',
    '|---|---|',
    `| date | ${started.toISOString()} |`,
    `| CPU | ${escapeCell(info.cpu)} |`,
    `| cores | ${info.cores} |`,
    `| memory | ${info.memory} |`,
    `| kernel | ${escapeCell(info.kernel)} |`,
    `| node | ${info.node} |`,
    `| nmap | ${escapeCell(info.nmap)} |`,
    `| reachgate | ${escapeCell(info.reachgate)} |`,
    info.snapshot
      ? `| build (hash of dist/ and bin/) | ${info.build}, measured from a copy taken at the start of ` +
        `the run${buildEnd === info.build ? '' : ` (the working tree was rebuilt meanwhile, to ${buildEnd}; the copy was not)`} |`
      : `| build (hash of dist/ and bin/) | ` +
        `${info.build}${buildEnd === info.build ? '' : ` at start, **${buildEnd} at end: the code was rebuilt during the run, figures may mix builds**`} |`,
    `| load average (1/5/15 min) | at start ${info.load}; at end ${loadEnd} (other work on the machine skews the figures) |`,
    '',
    '## Summary',
    '',
    '| benchmark | figure | reachgate | peer | ratio | goal | result |',
    '|---|---|---:|---:|---:|---|---|',
  ];
  results.forEach(({ name, bench }) => {
    if (bench.error || bench.skipped) {
      lines.push(
        `| ${name} | - | - | - | - | - | ${escapeCell(bench.error ? `did not run: ${bench.error}` : `skipped: ${bench.skipped}`)} |`,
      );
      return;
    }
    for (const row of (bench.rows ?? []).filter((r) => r.met !== null || r.invalid)) {
      lines.push(
        `| ${name} | ${escapeCell(row.metric)} | ${formatValue(row.reachgate, row.unit)} | ` +
          `${formatValue(row.peer, row.unit)} | ${row.ratio === null ? '-' : row.ratio.toFixed(2)} ` +
          `| ${escapeCell(row.goal ?? '-')} | ${row.met ? 'met' : '**missed**'} |`,
      );
    }
  });
  lines.push('');
  results.forEach(({ name, bench }, i) => lines.push(...renderBenchmark(i + 1, name, bench)));
  return `${lines.join('\n').trimEnd()}\n`;
}

async function main() {
  if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) {
    process.stderr.write('bench: dist/ is missing; run `npm run build` (or `npm run bench`, which builds first)\n');
    process.exit(2);
  }
  const available = readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs')
    .map((f) => f.slice(0, -4))
    .sort();
  const unknown = positionals.filter((name) => !available.includes(name));
  if (unknown.length) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')}; known: ${available.join(', ')}\n`);
    process.exit(2);
  }
  const names = positionals.length ? positionals : available;
  const started = new Date();
  const info = machine();
  if (!flags['no-snapshot']) {
    info.snapshot = snapshotBuild();
    process.env.REACHGATE_BENCH_BUILD = info.snapshot;
    info.build = buildHash(info.snapshot);
  }
  const results = [];
  let failed = 0;
  for (const name of names) {
    process.stderr.write(`bench: ${name} ...\n`);
    const t0 = performance.now();
    let bench;
    try {
      const module = await import(pathToFileURL(join(BENCH_DIR, `${name}.mjs`)).href);
      bench = await module.default(reps === undefined ? {} : { reps });
    } catch (error) {
      failed += 1;
      bench = { error: error instanceof Error ? error.message : String(error) };
      process.stderr.write(`bench: ${name} failed: ${error instanceof Error ? error.stack : error}\n`);
    }
    bench.elapsedMs = performance.now() - t0;
    results.push({ name, bench });
    for (const row of bench.rows ?? []) {
      process.stderr.write(
        `  ${row.metric}: reachgate ${formatValue(row.reachgate, row.unit)}, peer ` +
          `${formatValue(row.peer, row.unit)}, ratio ${row.ratio === null ? '-' : row.ratio.toFixed(2)}, ` +
          `goal ${row.goal ?? '-'}: ${resultWord(row)}\n`,
      );
    }
    if (bench.skipped) process.stderr.write(`  skipped: ${bench.skipped}\n`);
  }
  const buildEnd = buildHash();
  if (buildEnd !== info.build && !info.snapshot)
    process.stderr.write('bench: warning: dist/ or bin/ changed during the run; figures may mix builds\n');
  const markdown = render(info, started, results, loadAverage(), buildEnd);
  if (flags['no-write']) process.stdout.write(markdown);
  else {
    writeFileSync(OUT, markdown + keptSections());
    process.stderr.write(`bench: wrote ${OUT}\n`);
  }
  process.exitCode = failed ? 1 : 0;
}

await main();
