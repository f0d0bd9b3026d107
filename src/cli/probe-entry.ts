import { commandFailed } from './entry.js';
import { fastProbe } from './probe-fast.js';

// The entry of the probe bundle (scripts/bundle.mjs): `reachgate probe ...` compiles the probe path only, about
// 40 % of the whole CLI's code, which a cold start would otherwise spend ~25 ms of CPU compiling. A command line
// the fast path leaves to yargs (help, a doubtful flag) goes to the whole CLI, which parses it again.

/** Run `reachgate probe` from `args` (the command line after the program); `whole` starts the whole CLI instead. */
export function startProbe(args: string[], whole: () => void): void {
  fastProbe(args).then((code) => {
    if (code === undefined) whole();
    // Everything is written (stdout and stderr write synchronously to files, pipes and terminals on Linux): exit now.
    // Left to end by itself, Node tears its environment and heap down first, 10-25 ms of a sweep's wall time.
    else process.exit(code);
  }, commandFailed);
}
