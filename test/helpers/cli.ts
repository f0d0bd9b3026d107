import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { ProbeResult, RunReport } from '../../src/core/result.js';
import { readableCopy } from './readable-copy.js';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';
import { finished } from '../../src/lab/finished.js';
import { reachgateInProcess } from './cli-in-process.js';
import { testModule } from './test-tree.js';

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
  /**
   * Run the command line here instead of in a process of its own: IN_PROCESS, or a namespace's runner
   * (namespaceCli). The same command code bin/reachgate runs, without a node start per command line; keep a few
   * real runs per file for what only the binary shows (its exit, stdout and stderr apart, the bundle).
   */
  via?: CliHost;
}

/** Somewhere that runs CLI command lines without a process each: this test process, or a namespace's runner. */
export interface CliHost {
  run(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CliRun>;
}

/** Run command lines in this test process (test/helpers/cli-in-process.ts), one at a time. */
export const IN_PROCESS: CliHost = { run: (args, env) => reachgateInProcess(args, env) };

/** Run `reachgate ARGS` (optionally inside a network namespace), bounded in time. */
export async function reachgate(args: string[], options: CliOptions = {}): Promise<CliRun> {
  if (options.via) {
    if (options.netns || options.user || options.wrapper) throw new Error('a CLI host runs where it was started');
    return options.via.run(args, options.env ?? {}, options.timeoutMs ?? 30_000);
  }
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

/**
 * A CLI host in network namespace `netns`: one process there (test/helpers/cli-runner.ts, `ip netns exec`) runs
 * every command line given to it, one after the other, as `reachgate ARGS` would run there with
 * `{ netns }` — without a node start per command line. A command line that outlasts its time bound kills the
 * runner (later ones then fail); the test's teardown ends it.
 */
export async function namespaceCli(t: Test, netns: string): Promise<CliHost> {
  const runner = testModule('helpers/cli-runner');
  // Run from source (`npx tap test/x/y.test.ts`) the runner needs the TypeScript loader this file runs with.
  const loader = runner.endsWith('.ts') ? process.execArgv.filter((arg) => arg.includes('@tapjs/typescript')) : [];
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, ...loader, runner], {
    env: { ...cleanEnv(), NO_COLOR: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let ended: string | undefined;
  let stderr = '';
  let lines = '';
  let answer: ((line: string) => void) | undefined;
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-16_384)));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    lines += chunk;
    for (let end = lines.indexOf('\n'); end >= 0; end = lines.indexOf('\n')) {
      const line = lines.slice(0, end);
      lines = lines.slice(end + 1);
      answer?.(line);
    }
  });
  child.stdin.on('error', () => {});
  const gone = new Promise<void>((resolve) => {
    child.once('error', (error) => {
      ended = `could not start: ${error.message}`;
      resolve();
    });
    child.once('close', (code, signal) => {
      ended ??= `ended (exit ${code ?? signal})`;
      resolve();
    });
  });
  t.teardown(async () => {
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(timer);
  });
  let queue: Promise<unknown> = Promise.resolve();
  const runOne = async (args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CliRun> => {
    if (ended) return { code: null, stdout: '', stderr: `the CLI runner in ${netns} ${ended}: ${stderr}` };
    let timer: NodeJS.Timeout | undefined;
    const line = await Promise.race([
      new Promise<string>((resolve) => {
        answer = resolve;
        child.stdin.write(`${JSON.stringify({ args, env })}\n`);
      }),
      gone.then(() => undefined),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => {
          ended = `was killed after ${timeoutMs} ms running \`reachgate ${args.join(' ')}\``;
          child.kill('SIGKILL');
          resolve(undefined);
        }, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    answer = undefined;
    if (line === undefined) return { code: null, stdout: '', stderr: `the CLI runner in ${netns} ${ended}: ${stderr}` };
    return JSON.parse(line) as CliRun;
  };
  return {
    run: (args, env, timeoutMs) => {
      const run = queue.then(() => runOne(args, env, timeoutMs));
      queue = run.catch(() => undefined);
      return run;
    },
  };
}
