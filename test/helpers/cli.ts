import { spawn } from 'node:child_process';
import type { ProbeResult, RunReport } from '../../src/core/result.js';
import { fileURLToPath } from 'node:url';

/** The compiled CLI launcher, as users run it. */
export const BIN = fileURLToPath(new URL('../../bin/reachgate', import.meta.url));

/** What a CLI run printed and how it exited. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `reachgate ARGS` (optionally inside a network namespace), bounded in time. */
export function reachgate(args: string[], options: { netns?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; user?: string } = {}): Promise<CliRun> {
  // Through env(1): tap wraps spawned node processes with its own loader; a user's shell would not.
  const command = ['env', '-u', 'NODE_OPTIONS', process.execPath, BIN, ...args];
  if (options.user) command.unshift('setpriv', `--reuid=${options.user}`, `--regid=${options.user === 'nobody' ? 'nogroup' : options.user}`, '--clear-groups', '--inh-caps=-all');
  if (options.netns) command.unshift('ip', 'netns', 'exec', options.netns);
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { env: { ...cleanEnv(), NO_COLOR: '1', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The environment without tap's TypeScript loader hooks, so the child runs the compiled CLI as a user would. */
function cleanEnv(): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _loader, ...env } = process.env;
  return env;
}

/** What `reachgate probe KIND ... --json` reported: the RunReport and its first result. */
export interface ProbeRun extends CliRun {
  report: RunReport;
  result: ProbeResult;
}

/** Run `reachgate probe KIND ARGS --json` and parse its RunReport; no JSON on stdout is a test error that shows stderr. */
export async function probeJson(kind: string, args: string[], options: Parameters<typeof reachgate>[1] = {}): Promise<ProbeRun> {
  const run = await reachgate(['probe', kind, ...args, '--json'], options);
  let report: RunReport;
  try {
    report = JSON.parse(run.stdout) as RunReport;
  } catch {
    throw new Error(`no JSON report (exit ${run.code}): ${run.stderr}`);
  }
  return { ...run, report, result: report.results[0] as ProbeResult };
}
