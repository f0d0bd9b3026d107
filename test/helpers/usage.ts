import type { Argv } from 'yargs';
import { fastProbe } from '../../src/cli/probe-fast.js';
import { isUsageError } from '../../src/core/usage-error.js';

/**
 * What the CLI prints (message, then hint) when its own checks refuse `reachgate probe ARGS`, found in-process on
 * the path the CLI takes for a probe command line, without a process per case. A command line that this path hands
 * on to yargs or that it runs is a test error; give loopback targets only, in case a check lets one through.
 */
export async function probeUsageError(args: string[]): Promise<string> {
  let code: number | undefined;
  try {
    code = await fastProbe(['probe', ...args]);
  } catch (error) {
    if (!isUsageError(error)) throw error;
    return error.hint === undefined ? error.message : `${error.message}\n${error.hint}`;
  }
  throw new Error(
    code === undefined
      ? `\`probe ${args.join(' ')}\` goes to yargs: test it with a CLI run`
      : `\`probe ${args.join(' ')}\` was accepted and probed (exit ${code})`,
  );
}

/**
 * What a command refuses `reachgate ARGS` with, as the CLI prints it on stderr before its closing `Run reachgate
 * --help` line (then it exits 2; a few real CLI runs per test file pin that), found in-process: the command's own
 * module, as `src/cli/main.ts` registers it, on a yargs parser that throws instead of exiting. A command line it
 * accepts is a test error: give only command lines its checks refuse before anything is sent or written.
 */
export async function commandUsageError(register: (parser: Argv) => Argv, args: string[]): Promise<string> {
  const { default: yargs } = await import('yargs');
  try {
    await register(yargs().strict().fail(false)).parseAsync(args);
  } catch (error) {
    // As main.ts: yargs reports its own argument errors (requiresArg, choices) as a YError, a user's mistake too.
    if (!isUsageError(error) && (error as Error).name !== 'YError') throw error;
    return `reachgate: ${(error as Error).message}\n${isUsageError(error) && error.hint ? `${error.hint}\n` : ''}`;
  }
  throw new Error(`\`${args.join(' ')}\` was accepted`);
}
