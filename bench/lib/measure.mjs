// Timing helpers: run a command (bounded in time), measure its wall time and peak RSS.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/**
 * Where the reachgate under test is: run.mjs sets REACHGATE_BENCH_BUILD to a copy of the build
 * (bin/, dist/, profiles/, package.json; node_modules linked) taken when the run starts, so a
 * rebuild in the working tree during a run cannot mix builds. Otherwise the working tree.
 */
export const BUILD_ROOT = process.env.REACHGATE_BENCH_BUILD || ROOT;
export const REACHGATE = join(BUILD_ROOT, 'bin', 'reachgate');
const GNU_TIME = '/usr/bin/time';

/** Does /usr/bin/time (GNU time, with -f %M) work here? Then peak RSS comes from it (getrusage ru_maxrss). */
export const hasGnuTime = (() => {
  if (!existsSync(GNU_TIME)) return false;
  const probe = spawnSync(GNU_TIME, ['-f', '%M', 'true'], { encoding: 'utf8', timeout: 5000 });
  return probe.status === 0 && /^\d+\s*$/m.test(probe.stderr);
})();

/** How peak RSS is measured, for the report. */
export const rssMethod = hasGnuTime
  ? "GNU time (`/usr/bin/time -f %M`, the kernel's ru_maxrss of the measured process)"
  : 'polling VmHWM in /proc/PID/status every 20 ms (can miss the last 20 ms)';

const scratch = mkdtempSync(join(tmpdir(), 'reachgate-bench-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
let fileCounter = 0;

// Each measured command runs in its own process group (detached), so a timeout or our exit can
// end it together with what it started (GNU time's child), by that group's id only.
const livePids = new Set();
function killGroup(pid) {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}
process.on('exit', () => {
  for (const pid of livePids) killGroup(pid);
});

/**
 * Run `argv` (optionally inside namespace `ns`), stdout to a file, and measure it.
 * Returns { wallMs, code, signal, stdout, stderr, maxRssKiB|null, cpuMs|null (user+sys), timedOut }.
 * The wall time is taken here (spawn to exit), so both sides of a comparison pay the same
 * `ip netns exec` and /usr/bin/time overheads.
 */
export async function timed(argv, { ns, timeoutMs = 120_000, env, keepStdout = true, rss = true } = {}) {
  const id = ++fileCounter;
  const outPath = join(scratch, `out-${id}`);
  const errPath = join(scratch, `err-${id}`);
  const rssPath = join(scratch, `rss-${id}`);
  let command = [...argv];
  const measureRss = rss && hasGnuTime;
  if (measureRss) command = [GNU_TIME, '-f', 'rusage %M %U %S', '-o', rssPath, ...command];
  if (ns) command = ['ip', 'netns', 'exec', ns, ...command];
  const out = openSync(keepStdout ? outPath : '/dev/null', 'w');
  const err = openSync(errPath, 'w');
  const started = performance.now();
  const child = spawn(command[0], command.slice(1), {
    stdio: ['ignore', out, err],
    detached: true,
    env: env ? { ...process.env, ...env } : process.env,
  });
  closeSync(out);
  closeSync(err);
  livePids.add(child.pid);
  // Without GNU time: poll VmHWM (the kernel's peak RSS) of the child; `ip netns exec` execs the
  // command in the same PID. Polling can miss growth in the last interval before exit.
  let polledHwmKiB = null;
  const poller =
    rss && !hasGnuTime
      ? setInterval(() => {
          try {
            const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
            if (hwm) polledHwmKiB = Math.max(polledHwmKiB ?? 0, Number(hwm[1]));
          } catch {
            /* exited */
          }
        }, 20)
      : null;
  let timedOut = false;
  const killer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid);
  }, timeoutMs);
  const [code, signal] = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c, s) => resolve([c, s]));
  });
  const wallMs = performance.now() - started;
  clearTimeout(killer);
  if (poller) clearInterval(poller);
  livePids.delete(child.pid);
  const stdout = keepStdout ? readFileSync(outPath, 'utf8') : '';
  const stderr = readFileSync(errPath, 'utf8');
  let maxRssKiB = polledHwmKiB;
  let cpuMs = null;
  if (measureRss && existsSync(rssPath)) {
    // GNU time writes "Command exited with non-zero status N" first when the exit code is not 0.
    const m = /rusage (\d+) ([\d.]+) ([\d.]+)/.exec(readFileSync(rssPath, 'utf8'));
    if (m) {
      maxRssKiB = Number(m[1]);
      cpuMs = (Number(m[2]) + Number(m[3])) * 1000;
    }
  }
  for (const p of [outPath, errPath, rssPath]) rmSync(p, { force: true });
  return { wallMs, code, signal, stdout, stderr, maxRssKiB, cpuMs, timedOut };
}

export function median(values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Run measured functions in turn, `reps` times, rotating which goes first on every repetition
 * so that no side always runs first (or always right after the other). Returns one sample array
 * per function.
 */
export async function rotate(reps, fns) {
  const samples = fns.map(() => []);
  for (let i = 0; i < reps; i++) {
    for (let j = 0; j < fns.length; j++) {
      const k = (i + j) % fns.length;
      samples[k].push(await fns[k](i));
    }
  }
  return samples;
}

/**
 * One figure for run.mjs's table. Lower is better for every figure here; ratio = reachgate / peer.
 * goalRatio: met when ratio <= goalRatio; goalMax: met when the reachgate figure <= goalMax;
 * invalid: a reason why the figure does not count (e.g. a wrong answer), which makes it "missed".
 * A row without goalRatio/goalMax is for reference only (met: null).
 */
export function row({ metric, unit, reachgate, peer = null, goal = null, goalRatio, goalMax, invalid, note }) {
  const ratio =
    peer === null || !Number.isFinite(peer) || peer === 0 || !Number.isFinite(reachgate) ? null : reachgate / peer;
  let met = null;
  if (goalRatio !== undefined) met = ratio !== null && ratio <= goalRatio;
  if (goalMax !== undefined) met = (met ?? true) && Number.isFinite(reachgate) && reachgate <= goalMax;
  if (invalid) met = met === null ? null : false;
  return {
    metric,
    unit,
    reachgate,
    peer,
    ratio,
    goal,
    met,
    ...(invalid ? { invalid } : {}),
    ...(note ? { note } : {}),
  };
}

/** Median of a sample array, and the samples themselves for the report. */
export function summary(samples, pick = (s) => s.wallMs) {
  const values = samples.map(pick);
  return { median: median(values), values };
}
