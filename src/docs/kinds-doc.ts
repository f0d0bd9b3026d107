import type { Options as CliOption } from 'yargs';
import type { ProbeKind } from '../core/probe-kind.js';
import { code, table, text, value } from './markdown.js';

/** The profile reference's part on probe kinds: each kind's transport, standard port and the options a profile may set. */
export function probeKindsReference(kinds: readonly ProbeKind[]): string {
  const lines = [
    '## Probe kinds and their options',
    '',
    "A probe's `kind` names one of these. Its `options` are the kind's command line options without the",
    'leading `--` (`expect-reply: "^SSH-2\\.0"`, `tls: true`); strings may use `${settings.NAME}` from the site.',
    'The same options work on the command line: `reachgate probe KIND TARGET --OPTION VALUE`.',
    '',
    table(
      ['kind', 'transport', 'standard port', 'attempts', 'what it proves'],
      kinds.map((kind) => [
        code(kind.name),
        kind.protocolFor ? `${kind.protocol} (options can change it)` : kind.protocol,
        kind.defaultPort === undefined
          ? kind.protocol === 'icmp'
            ? 'none (no ports)'
            : 'none: name the port'
          : String(kind.defaultPort),
        String(kind.defaultAttempts),
        text(kind.summary),
      ]),
    ),
  ];
  for (const kind of kinds) {
    lines.push(`### ${kind.name}`, '', text(kind.summary), '');
    const options = Object.entries(kind.cliOptions);
    if (options.length === 0) lines.push('No options of its own.', '');
    else
      lines.push(
        table(
          ['option', 'type', 'default', 'allowed values', 'description'],
          options.map(([name, option]) => optionRow(name, option)),
        ),
      );
    const [example] = kind.examples;
    if (example) lines.push(`On the command line: ${code(example[0])} (${example[1]})`, '');
  }
  return lines.join('\n');
}

function optionRow(name: string, option: CliOption): string[] {
  const type = option.type === 'boolean' ? 'boolean' : option.type === 'number' ? 'number' : 'string';
  return [
    code(name),
    option.array ? `list of ${type}` : type,
    option.default === undefined ? '' : value(option.default),
    option.choices ? `one of ${(option.choices as unknown[]).map((choice) => code(String(choice))).join(', ')}` : '',
    text(String(option.describe ?? option.description ?? '')),
  ];
}
