import { parseArgs, type ParseArgsConfig } from 'node:util';
import t from 'tap';
import type { Options as CliOption } from 'yargs';
import { tokens } from '../../src/cli/probe-fast.js';

// The fast path's own reading of a `probe` command line (src/cli/probe-fast.ts) against node:util's strict parseArgs,
// which it replaces to spare a cold start loading it: the same options and positionals, and refused (handed to yargs)
// exactly where parseArgs throws.

const SPECS: Record<string, CliOption> = {
  json: { type: 'boolean' },
  tls: { type: 'boolean' },
  timeout: { type: 'string' },
  attempts: { type: 'number' },
  expect: { type: 'string', choices: ['reachable', 'blocked'] },
};

function byParseArgs(args: string[]): { values: Record<string, unknown>; positionals: string[] } | undefined {
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, spec] of Object.entries(SPECS)) {
    options[name] = spec.type === 'boolean' ? { type: 'boolean' } : { type: 'string', multiple: true };
  }
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    return { values: { ...values }, positionals };
  } catch {
    return undefined;
  }
}

const LINES: string[][] = [
  ['192.0.2.1:22'],
  ['192.0.2.1:22', '--json'],
  ['--json', '192.0.2.1:22', '--timeout', '2s', '--attempts', '3'],
  ['192.0.2.1:22', '--timeout=500ms', '--timeout', '1s'],
  ['192.0.2.1:22', '--timeout=-1s'],
  ['192.0.2.1:22', '--timeout', '-1s'],
  ['192.0.2.1:22', '--timeout', '-'],
  ['192.0.2.1:22', '--timeout'],
  ['192.0.2.1:22', '--timeout='],
  ['192.0.2.1:22', '--json=yes'],
  ['192.0.2.1:22', '--json', '--json'],
  ['192.0.2.1:22', '--unknown'],
  ['192.0.2.1:22', '-j'],
  ['192.0.2.1:22', '-'],
  ['192.0.2.1:22', '--', '--json', '-x'],
  ['192.0.2.1:22', '--constructor'],
  ['192.0.2.1:22', '--__proto__', 'x'],
  ['192.0.2.1:22', '---json'],
  ['192.0.2.1:22', '--=x'],
  ['-5'],
  [],
];

t.test("the probe's own parser reads each command line as strict parseArgs does, and refuses where it throws", (t) => {
  for (const args of LINES) {
    const expected = byParseArgs(args);
    const read = tokens(args, SPECS);
    t.same(read && { values: { ...read.values }, positionals: read.positionals }, expected, args.join(' ') || '(none)');
  }
  t.end();
});
