import { isUsageError } from '../core/usage-error.js';

// What every entry of the CLI does around its command: the whole CLI (main.ts) and the probe bundle's entry
// (probe-entry.ts) end the same way on a closed pipe, a user's mistake and an internal fault.

/** Exit code for invalid usage: nothing was probed. */
const USAGE_EXIT = 2;

/** Exit code for an internal fault (EX_SOFTWARE). */
const FAULT_EXIT = 70;

/** Print a user's mistake without a stack trace and exit 2. */
export function usageFailure(message: string, hint?: string): never {
  process.stderr.write(`reachgate: ${message}\n${hint ? `${hint}\n` : ''}Run \`reachgate --help\` for usage.\n`);
  process.exit(USAGE_EXIT);
}

let stdoutWatched = false;

/** `reachgate ... | head` closes the pipe early: that is the reader's choice, not a fault. Once is enough. */
export function exitOnClosedPipe(): void {
  if (stdoutWatched) return;
  stdoutWatched = true;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

/** End a command that threw: a user's mistake exits 2, anything else is an internal fault with its stack. */
export async function commandFailed(error: unknown): Promise<never> {
  if (isUsageError(error)) usageFailure(error.message, error.hint);
  // Loaded only for a fault: it maps the bundled CLI's stack back to the sources.
  const { faultText } = await import('./fault.js');
  process.stderr.write(`reachgate: internal error: ${faultText(error)}\n`);
  process.exit(FAULT_EXIT);
}
