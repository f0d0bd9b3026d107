import type { ChildProcess } from 'node:child_process';

/** What a finished command printed and how it exited. */
export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** How long a command may run, what it reads, and whom the deadline kills. */
export interface FinishOptions {
  timeoutMs: number;
  /** Written to its stdin, which is then closed (the child must have been spawned with a stdin pipe). */
  input?: string;
  /** Kill its whole process group at the deadline (spawned with `detached: true`), so what it started ends too. */
  group?: boolean;
}

/** Output kept per stream at most; a command that prints more is cut, with a note saying so. */
const KEPT_OUTPUT = 16 * 1024 * 1024;
const CUT = '\n[output cut]';

/**
 * Collect what a spawned command prints until it closes, bounded in time and size: at the deadline it
 * is killed (SIGKILL) and its pipes are let go, as a grandchild may still hold them open. Rejects only
 * when the command could not be started.
 */
export function finished(child: ChildProcess, options: FinishOptions): Promise<Finished> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const keep = (kept: string, chunk: string): string => {
      if (kept.length > KEPT_OUTPUT) return kept;
      return kept.length + chunk.length > KEPT_OUTPUT
        ? kept + chunk.slice(0, KEPT_OUTPUT - kept.length) + CUT
        : kept + chunk;
    };
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout = keep(stdout, chunk)));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr = keep(stderr, chunk)));
    const timer = setTimeout(() => {
      stderr += `\nkilled after ${options.timeoutMs} ms`;
      try {
        if (options.group && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // It ended between the deadline and its close event.
      }
      child.stdout?.destroy();
      child.stderr?.destroy();
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (child.stdin) {
      // The command may exit without reading its input (EPIPE); its exit status tells the story.
      child.stdin.on('error', () => {});
      child.stdin.end(options.input ?? '');
    }
  });
}
