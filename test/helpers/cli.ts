import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { ProbeResult, RunReport } from '../../src/core/result.js';
import { readableCopy } from './readable-copy.js';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';
import { finished } from '../../src/lab/finished.js';

/** The compiled CLI launcher, as users run it. */
export const BIN = join(PACKAGE_ROOT, 'bin', 'reachgate');

/** What a CLI run printed and how it exited. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** How to run the CLI: inside a network namespace, as another user, with extra environment, within a time bound. */
export interface CliOptions {
  netns?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Run as this user, from a world-readable copy of the CLI (the checkout may sit in a home only root can enter). */
  user?: string;
  /** A command that runs the CLI in turn, e.g. `prlimit --nofile=200:200`. */
  wrapper?: string[];
}

/** Run `reachgate ARGS` (optionally inside a network namespace), bounded in time. */
export async function reachgate(args: string[], options: CliOptions = {}): Promise<CliRun> {
  const bin = options.user ? join(await readableCopy(), 'bin', 'reachgate') : BIN;
  // Through env(1): tap wraps spawned node processes with its own loader; a user's shell would not.
  const command = [...(options.wrapper ?? []), 'env', '-u', 'NODE_OPTIONS', process.execPath, bin, ...args];
  if (options.user) {
    const group = options.user === 'nobody' ? 'nogroup' : options.user;
    command.unshift('setpriv', `--reuid=${options.user}`, `--regid=${group}`, '--clear-groups', '--inh-caps=-all');
  }
  if (options.netns) command.unshift('ip', 'netns', 'exec', options.netns);
  const env = { ...cleanEnv(), NO_COLOR: '1', ...options.env };
  const child = spawn(command[0]!, command.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return finished(child, { timeoutMs: options.timeoutMs ?? 30_000 });
}

/** The environment without tap's TypeScript loader hooks, so the child runs the compiled CLI as a user would. */
function cleanEnv(): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _loader, ...env } = process.env;
  return env;
}

/** The one JSON document a run printed on stdout; a run that printed none is a test error that shows its stderr. */
export function printedJson<T>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`no JSON on stdout (exit ${run.code}): ${run.stderr.slice(0, 2000)}`);
  }
}

/** Run `reachgate ARGS` and parse the JSON document it printed. */
export async function reachgateJson<T>(args: string[], options: CliOptions = {}): Promise<CliRun & { json: T }> {
  const run = await reachgate(args, options);
  return { ...run, json: printedJson<T>(run) };
}

/** What `reachgate probe KIND ... --json` reported: the RunReport and its first result. */
export interface ProbeRun extends CliRun {
  report: RunReport;
  result: ProbeResult;
}

/** Run `reachgate probe KIND ARGS --json` and parse its RunReport. */
export async function probeJson(kind: string, args: string[], options: CliOptions = {}): Promise<ProbeRun> {
  const { json: report, ...run } = await reachgateJson<RunReport>(['probe', kind, ...args, '--json'], options);
  return { ...run, report, result: report.results[0] as ProbeResult };
}
