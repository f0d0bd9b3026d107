import type { Options as CliOption } from 'yargs';
import { kindNames, loadKind } from '../profile/kinds.js';

// yargs takes 70-100 ms to load, longer than the rest of a probe on a LAN. A well-formed
// `probe` command line is parsed here instead, as node:util's strict parseArgs would (without
// loading it: ~1 ms of a cold start); anything this parser is unsure of (help, an unknown flag,
// a bad or doubtful value) goes to yargs, which owns every message and the help.

type Parsed = Record<string, unknown>;

/** Run `probe` without loading yargs when the command line is plainly valid; undefined hands it to yargs. */
export async function fastProbe(args: string[]): Promise<number | undefined> {
  const kindName = args[1];
  if (args[0] !== 'probe' || kindName === undefined || !kindNames().includes(kindName)) return undefined;
  if (args.some((arg) => arg === '--help' || arg === '-h' || arg === '--version')) return undefined;
  const [kind, { PROBE_OPTIONS, probe }] = await Promise.all([loadKind(kindName), import('./probe.js')]);
  const specs: Record<string, CliOption> = { ...PROBE_OPTIONS, ...kind.cliOptions } as Record<string, CliOption>;
  const parsed = parse(args.slice(2), specs);
  if (!parsed) return undefined;
  return probe(kind, { ...parsed, kind: kindName } as Parameters<typeof probe>[1]);
}

function parse(args: string[], specs: Record<string, CliOption>): Parsed | undefined {
  const negated: string[] = [];
  const kept = args.filter((arg) => {
    // yargs reads --no-NAME as NAME=false for a boolean; node:util in Node 20 does not.
    const name = /^--no-(.+)$/.exec(arg)?.[1];
    if (name === undefined || specs[name]?.type !== 'boolean') return true;
    negated.push(name);
    return false;
  });
  const result = tokens(kept, specs);
  if (!result || result.positionals.length === 0) return undefined;
  const argv: Parsed = { target: result.positionals };
  for (const name of negated) argv[name] = false;
  for (const [name, spec] of Object.entries(specs)) {
    const value = converted(result.values[name], spec);
    if (value === INVALID) return undefined;
    const chosen = value ?? argv[name] ?? spec.default;
    if (chosen !== undefined) {
      argv[name] = chosen;
      argv[camel(name)] = chosen;
    }
  }
  return argv;
}

/**
 * The options and positionals of `args`, as node:util's parseArgs reads them in strict mode with every boolean a
 * `boolean` and every other option a `string` given any number of times; undefined where it would throw: an unknown
 * option, a short one, a boolean with a value, a string without one or with one that starts with a dash (write
 * `--name=-value`; a lone `-` is a value). After `--` every argument is a positional.
 */
export function tokens(
  args: string[],
  specs: Record<string, CliOption>,
): { values: Record<string, true | string[]>; positionals: string[] } | undefined {
  const values: Record<string, true | string[]> = {};
  const positionals: string[] = [];
  for (let at = 0; at < args.length; at += 1) {
    const arg = args[at]!;
    if (arg === '--') {
      positionals.push(...args.slice(at + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    if (!arg.startsWith('--')) return undefined;
    const equals = arg.indexOf('=');
    const name = equals < 0 ? arg.slice(2) : arg.slice(2, equals);
    if (!Object.hasOwn(specs, name)) return undefined;
    if (specs[name]!.type === 'boolean') {
      if (equals >= 0) return undefined;
      values[name] = true;
      continue;
    }
    const value = equals >= 0 ? arg.slice(equals + 1) : args[(at += 1)];
    if (value === undefined || (equals < 0 && value.length > 1 && value.startsWith('-'))) return undefined;
    const list = values[name];
    if (Array.isArray(list)) list.push(value);
    else values[name] = [value];
  }
  return { values, positionals };
}

const INVALID = Symbol('invalid');

function converted(value: unknown, spec: CliOption): unknown {
  if (value === undefined || typeof value === 'boolean') return value;
  // A string option given once is a string, given again a list: as yargs has it.
  const values = (value as string[]).map((text) => (spec.type === 'number' ? Number(text) : text));
  if (values.some((item) => typeof item === 'number' && Number.isNaN(item))) return INVALID;
  if (spec.choices && values.some((item) => !(spec.choices as unknown[]).includes(item))) return INVALID;
  return values.length === 1 ? values[0] : values;
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}
