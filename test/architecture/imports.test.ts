import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import t from 'tap';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';

const ROOT = PACKAGE_ROOT;

/** Each room's floor: a module imports its own room and rooms on lower floors only. */
const FLOORS: Record<string, number> = {
  cli: 6,
  agent: 5,
  doctor: 5,
  docs: 5,
  demo: 5,
  explain: 5,
  run: 4,
  record: 4,
  probes: 3,
  report: 3,
  profile: 3,
  responder: 3,
  net: 2,
  coordinator: 2,
  lab: 2,
  core: 1,
};

/** Rooms on one floor that may import the other: doctor examines what the agent needs, with the agent's own code. */
const NEIGHBOURS: ReadonlyArray<readonly [string, string]> = [['doctor', 'agent']];

/** Node modules that do I/O: core holds the result model and pure functions only. */
const IO_MODULE = /^(node:)?(fs|net|dgram|dns|child_process|http|https|tls)(\/.*)?$/;

/** One import of a module: where it is and what it names. */
interface Import {
  file: string;
  line: number;
  specifier: string;
}

const IMPORT_FORMS = [
  /\bfrom\s*['"]([^'"]+)['"]/g,
  /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  /^\s*import\s*['"]([^'"]+)['"]/gm,
];

/** Every import of a source text: static, type-only, re-exports, side-effect and dynamic with a literal name. */
function importsOf(file: string, text: string): Import[] {
  const found: Import[] = [];
  for (const form of IMPORT_FORMS) {
    for (const match of text.matchAll(form)) {
      found.push({ file, line: text.slice(0, match.index).split('\n').length, specifier: match[1]! });
    }
  }
  return found.sort((a, b) => a.line - b.line);
}

/** The room of a path relative to the repository: probes, or the folder under src/. */
function roomOf(path: string): string | undefined {
  const parts = path.split('/');
  if (parts[0] === 'probes') return 'probes';
  return parts[0] === 'src' && parts.length > 2 ? parts[1] : undefined;
}

/** The repository path a relative import names, with the .ts source of a .js name. */
function target(entry: Import): string | undefined {
  if (!entry.specifier.startsWith('.')) return undefined;
  return relative(ROOT, join(ROOT, dirname(entry.file), entry.specifier))
    .split('\\')
    .join('/')
    .replace(/\.js$/, '.ts');
}

/** Each import of a room above the importer's, or of another probe, as one line naming both. */
function violations(entries: readonly Import[]): string[] {
  const found: string[] = [];
  for (const entry of entries) {
    const to = target(entry);
    const from = roomOf(entry.file);
    const into = to === undefined ? undefined : roomOf(to);
    if (from === undefined || into === undefined) continue;
    const where = `${entry.file}:${entry.line} (${from}) imports ${to} (${into})`;
    if (from === 'probes' && into === 'probes') {
      found.push(`${where}: a probe never imports another probe; shared code goes to src/net`);
    }
    const neighbours = NEIGHBOURS.some(([a, b]) => a === from && b === into);
    if (from !== into && !neighbours && FLOORS[into]! >= FLOORS[from]!) {
      found.push(`${where}: ${into} is not below ${from}`);
    }
  }
  return found;
}

/** Each import of an I/O module by a core module, as file:line and the module. */
function coreIo(entries: readonly Import[]): string[] {
  return entries
    .filter((entry) => roomOf(entry.file) === 'core' && IO_MODULE.test(entry.specifier))
    .map((entry) => `${entry.file}:${entry.line} imports ${entry.specifier}: core does no I/O`);
}

function sources(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => `${folder}/${name.split('\\').join('/')}`)
    .sort();
}

const files = [...sources('src'), ...sources('probes')];
const imports = files.flatMap((file) => importsOf(file, readFileSync(join(ROOT, file), 'utf8')));

t.test('the check names file, line and both rooms of every kind of import that goes up', async (t) => {
  const text = [
    "import type { Matrix } from '../coordinator/matrix.js';",
    "export { loadRun } from '../profile/load.js';",
    "import { formatEndpoint } from '../net/target.js';",
    "const probe = await import('../cli/probe.js');",
    "import '../run/execute.js';",
  ].join('\n');
  t.same(violations(importsOf('src/net/example.ts', text)), [
    'src/net/example.ts:1 (net) imports src/coordinator/matrix.ts (coordinator): coordinator is not below net',
    'src/net/example.ts:2 (net) imports src/profile/load.ts (profile): profile is not below net',
    'src/net/example.ts:4 (net) imports src/cli/probe.ts (cli): cli is not below net',
    'src/net/example.ts:5 (net) imports src/run/execute.ts (run): run is not below net',
  ]);
  t.same(violations(importsOf('probes/dns.ts', "import { firstAnswer } from './tcp.js';")), [
    'probes/dns.ts:1 (probes) imports probes/tcp.ts (probes): a probe never imports another probe; ' +
      'shared code goes to src/net',
  ]);
  const io = "import { lookup } from 'node:dns';\nimport { readFile } from 'fs/promises';";
  t.same(coreIo(importsOf('src/core/example.ts', io)), [
    'src/core/example.ts:1 imports node:dns: core does no I/O',
    'src/core/example.ts:2 imports fs/promises: core does no I/O',
  ]);
});

t.test('the sources were read', async (t) => {
  t.ok(files.includes('src/cli/main.ts') && files.includes('probes/tcp.ts'), 'src/ and probes/ are both read');
  t.ok(imports.length > files.length, `${imports.length} imports in ${files.length} files`);
});

t.test('no module imports a room above its own, and no probe imports another probe', async (t) => {
  t.same(violations(imports), []);
});

t.test('core modules import no node module that does I/O', async (t) => {
  t.same(coreIo(imports), []);
});
