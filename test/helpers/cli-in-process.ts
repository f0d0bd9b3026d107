import { Writable } from 'node:stream';
import { commandFailed } from '../../src/cli/entry.js';
import { runCli } from '../../src/cli/main.js';
import type { Finished } from '../../src/lab/finished.js';

// `reachgate ARGS` without a process: the command code bin/reachgate runs (src/cli/main.ts runCli, ended by
// entry.ts's commandFailed as src/cli/reachgate.ts ends it), with what it prints on process.stdout and
// process.stderr caught and its exit code returned instead of ending this process. A node start per case costs
// ~0.3-1 s of CPU; this costs the command's own work. Only the binary's own path (bin/reachgate, the bundles, a
// closed pipe) is left to the real runs of test/helpers/cli.ts.

/** Output kept per stream at most, as test/helpers/cli.ts keeps of a real run (src/lab/finished.ts). */
const KEPT_OUTPUT = 16 * 1024 * 1024;

/** What process.exit was called with: thrown out of the command, as the process would have ended there. */
class Exited extends Error {
  constructor(readonly code: number) {
    super(`process.exit(${code})`);
  }
}

/**
 * A stand-in for process.stdout or process.stderr that keeps what is written (not a TTY, no columns: a pipe's), up
 * to the process.exit that would have ended the process: nothing written after that is kept.
 */
class Caught extends Writable {
  text = '';
  exited = false;

  constructor() {
    super({
      decodeStrings: false,
      write: (chunk: string | Buffer, encoding: BufferEncoding | 'buffer', done: () => void) => {
        if (!this.exited) this.keep(typeof chunk === 'string' ? Buffer.from(chunk, encoding as BufferEncoding) : chunk);
        done();
      },
    });
  }

  private keep(bytes: Buffer): void {
    if (this.text.length > KEPT_OUTPUT) return;
    const text = bytes.toString();
    this.text +=
      this.text.length + text.length > KEPT_OUTPUT
        ? `${text.slice(0, KEPT_OUTPUT - this.text.length)}\n[output cut]`
        : text;
  }
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Run `reachgate ARGS` in this process with `env` added to the environment while it runs (NO_COLOR=1 always, as
 * test/helpers/cli.ts runs the binary). Runs are one at a time: process.stdout, process.stderr, process.exit,
 * process.exitCode and the environment are the command's while it runs, and restored after. The command must not
 * read stdin (a real run's stdin is closed) nor start servers that outlive it.
 */
export function reachgateInProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  const run = queue.then(() => runAlone(args, env));
  queue = run.catch(() => undefined);
  return run;
}

async function runAlone(args: string[], env: NodeJS.ProcessEnv): Promise<Finished> {
  const stdout = new Caught();
  const stderr = new Caught();
  const saved = {
    stdout: Object.getOwnPropertyDescriptor(process, 'stdout')!,
    stderr: Object.getOwnPropertyDescriptor(process, 'stderr')!,
    exit: process.exit,
    exitCode: process.exitCode,
    env: Object.fromEntries(Object.keys({ NO_COLOR: '1', ...env }).map((name) => [name, process.env[name]])),
  };
  // The global console holds the streams it first wrote to (yargs prints help and completions through it).
  const consoleStreams = console as unknown as { _stdout: NodeJS.WritableStream; _stderr: NodeJS.WritableStream };
  const savedConsole = { stdout: consoleStreams._stdout, stderr: consoleStreams._stderr };
  let exited: number | undefined;
  Object.defineProperty(process, 'stdout', { configurable: true, enumerable: true, get: () => stdout });
  Object.defineProperty(process, 'stderr', { configurable: true, enumerable: true, get: () => stderr });
  consoleStreams._stdout = stdout;
  consoleStreams._stderr = stderr;
  // The first call ends the run as it ends a process: yargs catches what its fail handler throws, and the command
  // goes on to a second ending (commandFailed) that a process never reaches; what follows is not kept.
  process.exit = ((code?: number | string | null) => {
    exited ??= Number(code ?? process.exitCode ?? 0);
    stdout.exited = stderr.exited = true;
    throw new Exited(exited);
  }) as typeof process.exit;
  process.exitCode = undefined;
  Object.assign(process.env, { NO_COLOR: '1', ...env });
  let left: number | string | null | undefined;
  try {
    await runCli(args).catch(async (error: unknown) => {
      // As src/cli/reachgate.ts ends a command that threw; its process.exit ends the run.
      if (exited === undefined) await commandFailed(error);
    });
  } catch (error) {
    if (exited === undefined) throw error;
  } finally {
    left = process.exitCode;
    Object.defineProperty(process, 'stdout', saved.stdout);
    Object.defineProperty(process, 'stderr', saved.stderr);
    consoleStreams._stdout = savedConsole.stdout;
    consoleStreams._stderr = savedConsole.stderr;
    process.exit = saved.exit;
    process.exitCode = saved.exitCode;
    for (const [name, value] of Object.entries(saved.env)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  return { code: exited ?? Number(left ?? 0), stdout: stdout.text, stderr: stderr.text };
}
