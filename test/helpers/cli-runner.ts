import { createInterface } from 'node:readline';
import { reachgateInProcess } from './cli-in-process.js';

// A CLI host for a test in a network namespace (started by namespaceCli in test/helpers/cli.ts as
// `ip netns exec NS node cli-runner`): one process runs many CLI command lines, each as `reachgate ARGS` would run
// there, instead of a node start per command line. Reads one JSON request per line on stdin ({args, env}) and
// answers each, in order, with one JSON line on stdout ({code, stdout, stderr}); ends when stdin ends.

// The real stdout: while a command runs, process.stdout is the stand-in that catches what it prints.
const answers = process.stdout;
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  const { args, env } = JSON.parse(line) as { args: string[]; env: NodeJS.ProcessEnv };
  const run = await reachgateInProcess(args, env);
  answers.write(`${JSON.stringify(run)}\n`);
}
