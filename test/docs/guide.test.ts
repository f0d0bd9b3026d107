import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { STATES } from '../../src/core/result.js';
import { kindNames, loadKind } from '../../src/profile/kinds.js';
import { meaningOf } from '../../src/net/icmp-packet.js';
import { PROBE_OPTIONS } from '../../src/cli/probe.js';
import { anchor } from '../../src/docs/markdown.js';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';

// The hand-written troubleshooting guide must keep up with the code: every state, every ICMP error
// reachgate names, and only commands and options that exist.
const ROOT = PACKAGE_ROOT;
const GUIDE = readFileSync(join(ROOT, 'docs', 'troubleshooting.md'), 'utf8');
const COMMANDS = [
  'probe',
  'run',
  'validate',
  'profiles',
  'agent',
  'coordinator',
  'token',
  'matrix',
  'explain',
  'completion',
];

/** The inline code spans of a Markdown text, joined across line breaks. */
function codeSpans(text: string): string[] {
  return [...text.matchAll(/`([^`]+)`/g)].map((match) => match[1]!.replace(/\s*\n\s*/g, ' '));
}

t.test('the guide has a section for every state', async (t) => {
  for (const state of STATES) t.match(GUIDE, new RegExp(`^## ${state}$`, 'm'), state);
});

t.test('the guide explains every ICMP error reachgate names', async (t) => {
  const errors = [
    ...Array.from({ length: 16 }, (_, code) => ({ family: 4 as const, type: 3, code })),
    ...Array.from({ length: 7 }, (_, code) => ({ family: 6 as const, type: 1, code })),
    { family: 4 as const, type: 11, code: 0 },
  ];
  for (const error of errors) {
    const { name } = meaningOf(error);
    t.ok(
      GUIDE.includes(`\`${name}\``) || GUIDE.includes(`ICMP${error.family === 6 ? 'v6' : ''} ${name} (`),
      `${name} (${error.type}/${error.code})`,
    );
  }
});

t.test('every reachgate command line in the guide names a command, kind and options that exist', async (t) => {
  const kinds = kindNames();
  const lines = codeSpans(GUIDE).filter((span) => span.startsWith('reachgate '));
  t.ok(lines.length > 10, 'the guide gives commands to run');
  for (const line of lines) {
    const [, command, kind] = line.split(' ');
    t.ok(COMMANDS.includes(command!), `${line}: ${command} is a command`);
    if (command !== 'probe') continue;
    t.ok(kinds.includes(kind!), `${line}: ${kind} is a probe kind`);
    if (!kinds.includes(kind!)) continue;
    const options = { ...PROBE_OPTIONS, ...(await loadKind(kind!)).cliOptions };
    for (const [, flag] of line.matchAll(/ --([a-z0-9-]+)/g)) {
      const name = flag!.replace(/^no-/, '');
      t.ok(name in options, `${line}: --${flag} is an option of probe ${kind}`);
    }
  }
});

t.test('every link in docs/ and the README points at a file and heading that exist', async (t) => {
  const files = [
    join(ROOT, 'README.md'),
    ...readdirSync(join(ROOT, 'docs'))
      .filter((file) => file.endsWith('.md'))
      .map((file) => join(ROOT, 'docs', file)),
  ];
  const headings = (file: string): Set<string> =>
    new Set([...readFileSync(file, 'utf8').matchAll(/^#+ (.+)$/gm)].map((match) => anchor(match[1]!)));
  for (const file of files) {
    for (const [, target] of readFileSync(file, 'utf8').matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const [path, fragment] = target!.split('#');
      const linked = path ? resolve(dirname(file), path) : file;
      t.ok(existsSync(linked), `${file}: ${target} exists`);
      if (fragment && linked.endsWith('.md') && existsSync(linked))
        t.ok(headings(linked).has(fragment), `${file}: #${fragment} is a heading of ${path || 'the same file'}`);
    }
  }
});
