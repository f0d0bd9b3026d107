import { commandFailed } from './entry.js';
import { fastProbe } from './probe-fast.js';

// The entry of the probe bundle (scripts/bundle.mjs): `reachgate probe ...` compiles the probe path only, about
// 40 % of the whole CLI's code, which a cold start would otherwise spend ~25 ms of CPU compiling. A command line
// the fast path leaves to yargs (help, a doubtful flag) goes to the whole CLI, which parses it again.

/** Run `reachgate probe` from `args` (the command line after the program); `whole` starts the whole CLI instead. */
export function startProbe(args: string[], whole: () => void): void {
  fastProbe(args).then((code) => {
    if (code === undefined) whole();
    else exitWhenWritten(code);
  }, commandFailed);
}

/**
 * Exit with `code` once stdout and stderr hold nothing unwritten. Left to end by itself, Node tears its environment
 * and heap down first, 10-25 ms of a sweep's wall time. A pipe whose reader is slower than the report takes writes
 * asynchronously (a full pipe buffer): those must reach it before the process ends.
 */
function exitWhenWritten(code: number): void {
  const pending = [process.stdout, process.stderr].filter((stream) => stream.writableLength > 0);
  if (pending.length === 0) process.exit(code);
  let left = pending.length;
  // An empty write's callback runs once every write before it went out (or failed: a closed pipe's error handler
  // ends the process by itself).
  for (const stream of pending) stream.write('', () => (--left === 0 ? process.exit(code) : undefined));
}
