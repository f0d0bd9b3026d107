// npm test's runner: runs each compiled test file (dist/test/**/*.test.js) as a plain `node FILE`, a few at a time,
// reads the TAP each prints with tap-parser, and closes with tap's own summary line (`# { total: N, pass: N }`, which
// .ci/run reads). The tests are written with tap and each file runs on its own exactly as under tap's runner
// (`npx tap dist/test/x/y.test.js` still works for one file). Why not tap's runner: it starts every test file with
// three module loaders (@tapjs/processinfo, which records every loaded file and its line lengths for coverage, even
// with coverage disabled; @tapjs/mock; source maps), which cost 0.2-1.4 s of CPU per file, some 80-100 s of the
// suite's CPU over ~100 files on a 2-core machine (measured 2026-11-30, README "Tests").
//
//   node scripts/run-tests.mjs [--jobs N] [--timeout SECONDS] [--grace SECONDS] [--source-maps] [--check COMMAND]...
//                              [PATH ...]
//
// PATH: test files or directories (default dist/test). --check COMMAND (repeatable): a shell command run beside the
// test files from the start, outside the --jobs slots and at the lowest priority (see runCheck), so that it takes the cores the
// test files leave idle (they wait on daemons, deadlines and each other) rather than delaying them; it passes when it
// exits 0 and counts as one test, its output shown when it fails. npm test runs the tests' type-check, eslint and
// Prettier's check so: before the first test file they were the pretest's longest part (~50 s of CPU in a fresh
// clone, where neither has a cache). --jobs and --timeout default to package.json's tap.jobs and
// tap.timeout: a file still running that long after it started fails by tap's own timeout; one that does not end then
// gets a SIGTERM --grace seconds (default 10) later, and its process group a SIGKILL after as long again.
// --source-maps runs the files with node's --enable-source-maps (stack traces in .ts lines; slower).
// Files run longest first, by the times of the last run on this checkout (node_modules/.cache/reachgate-tests), else
// by scripts/test-times.json (an idle run's, kept for fresh clones), and a file in neither by its room (the slow
// rooms first), so that no long file starts last: on 2 cores a fresh clone's run took 257 s in room order and a
// second run 229 s longest first.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser } from 'tap-parser';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const TIMES = join(ROOT, 'node_modules/.cache/reachgate-tests/times.json');
/** Seconds per file of one idle run, kept in the repository: a fresh clone's order (refresh: copy TIMES over it). */
const HINTS = join(ROOT, 'scripts/test-times.json');
/** Output kept per file, for a failing file's report (the end is kept: it holds the failure and the summary). */
const KEPT_OUTPUT = 4 * 1024 * 1024;
/** Without a record of earlier times: rooms whose files take longest, started first. */
const SLOW_ROOMS = ['e2e/', 'install/', 'lab/', 'coordinator/', 'explain/', 'record/', 'responder/', 'run/'];

function usage(message) {
  process.stderr.write(
    `run-tests: ${message}\nusage: node scripts/run-tests.mjs [--jobs N] [--timeout SECONDS] [--grace SECONDS] [--source-maps]` +
      ' [--check COMMAND]... [PATH ...]\n',
  );
  process.exit(2);
}

function options(argv) {
  const tap = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).tap ?? {};
  const chosen = {
    jobs: tap.jobs ?? 2,
    timeout: tap.timeout ?? 240,
    grace: 10,
    sourceMaps: false,
    checks: [],
    paths: [],
  };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    const number = (name) => {
      const value = Number(argv[++index]);
      if (!Number.isInteger(value) || value < 1)
        usage(`${name} takes a whole number of at least 1, not ${argv[index]}`);
      return value;
    };
    if (arg === '--jobs' || arg === '-j') chosen.jobs = number(arg);
    else if (arg === '--timeout') chosen.timeout = number(arg);
    else if (arg === '--grace') chosen.grace = number(arg);
    else if (arg === '--source-maps') chosen.sourceMaps = true;
    else if (arg === '--check') {
      const command = argv[++index];
      if (command === undefined || command.trim() === '') usage('--check takes a command');
      chosen.checks.push(command);
    } else if (arg.startsWith('-')) usage(`unknown option ${arg}`);
    else chosen.paths.push(arg);
  }
  if (chosen.paths.length === 0) chosen.paths.push('dist/test');
  return chosen;
}

const BUILT_TESTS = join(ROOT, 'dist/test');

/**
 * Whether a compiled test under dist/test/ has lost its source in test/ (the pretest removes those, a run of this
 * runner without it skips them): a test removed from test/ never runs on from an old build.
 */
function stale(path) {
  if (!path.startsWith(`${BUILT_TESTS}/`)) return false;
  const source = join(ROOT, 'test', relative(BUILT_TESTS, path).replace(/\.[cm]?js$/, '.ts'));
  if (existsSync(source)) return false;
  process.stderr.write(
    `run-tests: not running ${relative(ROOT, path)}: its source ${relative(ROOT, source)} is gone\n`,
  );
  return true;
}

/** Every *.test.js under the given files and directories, relative to the package root. */
function testFiles(paths) {
  const found = [];
  const walk = (path) => {
    let stat;
    try {
      stat = statSync(path);
    } catch {
      usage(
        `no such file or directory: ${relative(ROOT, path) || path} (run npm run build and tsc -b tsconfig.test.json first)`,
      );
    }
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path).sort()) if (entry !== 'node_modules') walk(join(path, entry));
    } else if (/\.test\.[cm]?js$/.test(path) && !stale(path)) found.push(relative(ROOT, path));
  };
  for (const path of paths) walk(resolve(ROOT, path));
  if (found.length === 0) usage(`no *.test.js file under ${paths.join(', ')}`);
  return found;
}

function readRecord(file) {
  try {
    const times = JSON.parse(readFileSync(file, 'utf8'));
    return times && typeof times === 'object' ? times : {};
  } catch {
    return {};
  }
}

/** The last run's times on this checkout, over the times kept in the repository for a checkout that never ran. */
function readTimes() {
  return { ...readRecord(HINTS), ...readRecord(TIMES) };
}

/** Longest first: by the last recorded time; files never timed by their room, ahead of the timed short ones. */
function schedule(files, times) {
  const weight = (file) => {
    if (typeof times[file] === 'number') return times[file];
    const room = SLOW_ROOMS.findIndex((prefix) => file.includes(`/test/${prefix}`));
    return room === -1 ? 1e6 : 2e6 - room;
  };
  return [...files].sort((a, b) => weight(b) - weight(a) || a.localeCompare(b));
}

/** The test processes running now, ended with this runner if it is interrupted. */
const running = new Set();
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    for (const child of running) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    process.stderr.write(`run-tests: ${signal}: ended the ${running.size} test files still running\n`);
    process.exit(130);
  });
}

/** Run one test file to its end (bounded by the timeout); its counts, failures, skips and kept output. */
function runFile(file, { timeout, grace, sourceMaps }) {
  const started = process.hrtime.bigint();
  const args = [
    '--import',
    join(ROOT, 'scripts/tap-children.mjs'),
    ...(sourceMaps ? ['--enable-source-maps'] : []),
    file,
  ];
  // tap's own timeout for the file (TAP_TIMEOUT, as tap's runner sets it) fails it and runs its teardowns; this
  // runner's signals follow only if the file does not end then. Its own process group, so that a timeout can end what
  // it started along with it.
  const env = { ...process.env, TAP_TIMEOUT: String(timeout) };
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  const parser = new Parser();
  const counts = { total: 0, pass: 0, fail: 0, skip: 0, todo: 0 };
  const failures = [];
  const skips = [];
  parser.on('result', (result) => {
    counts.total++;
    if (result.todo) counts.todo++;
    else if (result.skip) {
      counts.skip++;
      skips.push(`${result.fullname || result.name}${typeof result.skip === 'string' ? ` # ${result.skip}` : ''}`);
    } else if (!result.ok) {
      counts.fail++;
      failures.push(result.fullname || result.name);
    } else counts.pass++;
  });
  let output = '';
  const keep = (chunk) => {
    output += chunk;
    if (output.length > 2 * KEPT_OUTPUT) output = output.slice(-KEPT_OUTPUT);
  };
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    keep(chunk);
    parser.write(chunk);
  });
  child.stderr.setEncoding('utf8').on('data', keep);
  let timedOut = false;
  let killer;
  const timer = setTimeout(
    () => {
      timedOut = true;
      child.kill('SIGTERM');
      killer = setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, grace * 1000);
    },
    (timeout + grace) * 1000,
  );
  return new Promise((done) => {
    child.on('error', (error) => keep(`\nrun-tests: could not start node: ${error.message}\n`));
    child.on('close', (code, signal) => {
      running.delete(child);
      clearTimeout(timer);
      clearTimeout(killer);
      parser.end();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const problems = [];
      if (timedOut) problems.push(`timed out after ${timeout} s`);
      if (code !== 0) problems.push(signal ? `ended by ${signal}` : `exit code ${code}`);
      if (counts.total === 0) problems.push('printed no test result');
      if (!parser.ok && counts.fail === 0 && problems.length === 0) problems.push('its TAP output was not ok');
      done({ file, seconds, counts, failures, skips, problems, output });
    });
  });
}

/**
 * Give a check's session the test files' priority: its autogroup's niceness back to 0, and its processes' niceness (all
 * in the process group `group`, which the check's shell leads) back to this runner's. Lowering a niceness needs root
 * (CAP_SYS_NICE); without it the check keeps its low priority, which only costs time once no test file is left.
 */
function promote(group) {
  try {
    writeFileSync(`/proc/${group}/autogroup`, '0');
  } catch {
    // no autogroup scheduling, the check already ended, or not allowed
  }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The fields after the command's name, which may hold spaces and parentheses: state, ppid, pgrp, ...
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === group) setPriority(Number(entry), getPriority());
    } catch {
      // gone meanwhile, or not allowed
    }
  }
}

/**
 * Run one --check command (its session's autogroup at niceness 19, then `nice -n 10 sh -c COMMAND`) to its
 * end; as a file's result, one test that passes when the command exits 0. `slotFree` resolves when a test slot has no
 * file left to run: the check then gets normal priority (see promote) and its timeout starts. Timed from its start,
 * a check starved by the test files (or by anything else on a loaded machine) timed out while waiting for CPU it was
 * never meant to get then: Prettier's check, at load 8, after 240 s.
 */
function runCheck(command, { timeout, grace }, slotFree) {
  const started = process.hrtime.bigint();
  // Detached, the command leads a session of its own, and on Linux with autogroup scheduling (the default) a session is
  // a group that the scheduler shares CPU between as it would between processes: a niceness set inside the group
  // ranks its processes only against each other, not against the test files (each a session too). So the shell first
  // sets its own group's niceness to 19 (/proc/self/autogroup; without autogroup there is no such file, and a user
  // other than root may be refused the write: then nice(1) alone counts), then runs the command through nice(1),
  // both before the command starts (set after the spawn, they would race a quick one). With nice(1) alone, the three
  // checks took the CPU share of three more test files (a fleet lab row missed its 1 s deadline in a CI-style run).
  // With a slot idle from the start (fewer files than slots), the check has the test files' priority from the start.
  const script = slotIdleFromStart
    ? 'exec sh -c "$1"'
    : 'echo 19 > /proc/self/autogroup 2>/dev/null; exec nice -n 10 sh -c "$1"';
  const args = ['-c', script, 'check', command];
  const child = spawn('sh', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  let output = '';
  const keep = (chunk) => {
    output += chunk;
    if (output.length > 2 * KEPT_OUTPUT) output = output.slice(-KEPT_OUTPUT);
  };
  child.stdout.setEncoding('utf8').on('data', keep);
  child.stderr.setEncoding('utf8').on('data', keep);
  let timedOut = false;
  let killer;
  const kill = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  let timer;
  let ended = false;
  void slotFree.then(() => {
    if (ended) return;
    if (!slotIdleFromStart) promote(child.pid);
    timer = setTimeout(() => {
      timedOut = true;
      kill('SIGTERM');
      killer = setTimeout(() => kill('SIGKILL'), grace * 1000);
    }, timeout * 1000);
  });
  return new Promise((done) => {
    child.on('error', (error) => keep(`\nrun-tests: could not start the check's shell: ${error.message}\n`));
    child.on('close', (code, signal) => {
      ended = true;
      running.delete(child);
      clearTimeout(timer);
      clearTimeout(killer);
      const problems = [];
      if (timedOut) problems.push(`timed out after ${timeout} s`);
      if (code !== 0) problems.push(signal ? `ended by ${signal}` : `exit code ${code}`);
      const ok = problems.length === 0;
      const counts = { total: 1, pass: ok ? 1 : 0, fail: ok ? 0 : 1, skip: 0, todo: 0 };
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      done({ file: `check: ${command}`, seconds, counts, failures: [], skips: [], problems, output, check: true });
    });
  });
}

const chosen = options(process.argv.slice(2));
const times = readTimes();
const queue = schedule(testFiles(chosen.paths), times);
const total = { total: 0, pass: 0, fail: 0, skip: 0, todo: 0 };
const failed = [];
const skipped = [];
let number = 0;
const started = Date.now();
const besides = chosen.checks.length > 0 ? ` and ${chosen.checks.length} checks beside them` : '';
process.stdout.write(`TAP version 14\n# ${queue.length} test files, ${chosen.jobs} at a time${besides}\n`);

/** One test file's or check's line, and a failing one's output. */
function report(result) {
  number++;
  if (!result.check) times[result.file] = Math.round(result.seconds * 10) / 10;
  for (const key of Object.keys(total)) total[key] += result.counts[key];
  const ok = result.problems.length === 0 && result.counts.fail === 0;
  const counted = `${result.counts.pass}/${result.counts.total}`;
  process.stdout.write(
    `${ok ? 'ok' : 'not ok'} ${number} - ${result.file} # time=${result.seconds.toFixed(1)}s ${counted}\n`,
  );
  for (const skip of result.skips) skipped.push(`${result.file}: ${skip}`);
  if (!ok) {
    failed.push(result);
    // A failing file's whole output, where it failed, indented under its line.
    const lines = result.output.trimEnd().split('\n');
    process.stdout.write(`${lines.map((line) => `    ${line}`).join('\n')}\n`);
    const why = [...result.problems, ...result.failures.map((name) => `failed: ${name}`)];
    process.stdout.write(`    # ${result.file}: ${why.join('; ')}\n`);
  }
}

/** Resolved when the first test slot finds no file left to run: from then on the checks may take its share. */
let freeSlot;
const slotFree = new Promise((resolve) => (freeSlot = resolve));
/** Fewer files than slots: a slot is idle from the start. */
const slotIdleFromStart = queue.length < chosen.jobs;

async function worker() {
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) report(await runFile(file, chosen));
  freeSlot();
}

await Promise.all([
  ...chosen.checks.map(async (command) => report(await runCheck(command, chosen, slotFree))),
  ...Array.from({ length: chosen.jobs }, () => worker()),
]);
try {
  // Files since removed leave the record.
  const kept = Object.fromEntries(Object.entries(times).filter(([file]) => existsSync(join(ROOT, file))));
  mkdirSync(join(TIMES, '..'), { recursive: true });
  writeFileSync(TIMES, `${JSON.stringify(kept, null, 1)}\n`);
} catch {
  // The record only orders the next run.
}
process.stdout.write(`1..${number}\n`);
for (const skip of skipped) process.stdout.write(`# SKIP ${skip}\n`);
for (const result of failed) process.stdout.write(`# FAILED ${result.file}\n`);
const summary = Object.entries(total)
  .filter(([key, value]) => key === 'total' || key === 'pass' || value > 0)
  .map(([key, value]) => `${key}: ${value}`)
  .join(', ');
process.stdout.write(`# { ${summary} }\n# time=${Date.now() - started}ms\n`);
process.exitCode = failed.length > 0 ? 1 : 0;
