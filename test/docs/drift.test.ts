import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedDocs, REGENERATE } from '../../src/docs/generate.js';
import { firstDifference } from '../../src/docs/markdown.js';
import { undocumentedKeys, type SchemaNode } from '../../src/docs/schema-doc.js';
import { schemaPath, type SchemaName } from '../../src/profile/schema-check.js';
import { IN_PROCESS, reachgate } from '../helpers/cli.js';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';

// The docs-drift check: the committed pages under docs/ must be what the generator makes of the
// schemas, the probe kinds and the built-in profiles right now.
const DOCS = join(PACKAGE_ROOT, 'docs');

function committed(file: string): string | undefined {
  try {
    return readFileSync(join(DOCS, file), 'utf8');
  } catch {
    return undefined;
  }
}

const docs = await generatedDocs();

t.test('the generator makes the five reference pages', async (t) => {
  t.same(
    docs.map((doc) => doc.file),
    [
      'profile-reference.md',
      'site-reference.md',
      'agent-reference.md',
      'alerts-reference.md',
      'port-table-coverage.md',
    ],
  );
});

for (const doc of docs) {
  t.test(`docs/${doc.file} is what ${doc.from} generates`, async (t) => {
    const text = committed(doc.file);
    if (text === undefined) {
      t.fail(`docs/${doc.file} is missing: generate it with \`${REGENERATE}\``);
      return;
    }
    const difference = firstDifference(doc.text, text);
    if (difference === null) {
      t.pass('up to date');
      return;
    }
    // Compared line against line, so the failure shows the first differing line of each.
    t.equal(
      `line ${difference.line}: ${difference.actual}`,
      `line ${difference.line}: ${difference.expected}`,
      `docs/${doc.file} is out of date with ${doc.from}: regenerate it with \`${REGENERATE}\` and commit it`,
    );
  });
}

t.test('reachgate docs --out writes the same pages the drift check compares', async (t) => {
  const dir = t.testdir();
  const run = await reachgate(['docs', '--out', dir]);
  t.equal(run.code, 0, run.stderr);
  for (const doc of docs) {
    t.equal(readFileSync(join(dir, doc.file), 'utf8'), doc.text, doc.file);
    t.match(run.stdout, `written   ${join(dir, doc.file)}`);
  }
  const again = await reachgate(['docs', '--out', dir], { via: IN_PROCESS });
  t.equal(again.code, 0, again.stderr);
  t.equal(
    again.stdout.split('\n').filter((line) => line.startsWith('unchanged')).length,
    docs.length,
    'a second run changes nothing',
  );
});

for (const name of ['profile', 'site', 'agent'] as SchemaName[]) {
  t.test(`every key of the ${name} schema has a description for its reference`, async (t) => {
    const schema = JSON.parse(readFileSync(schemaPath(name), 'utf8')) as SchemaNode;
    t.same(undocumentedKeys(schema), [], `add a "description" to these keys of ${schemaPath(name)}`);
  });
}

t.test('each reference lists every top-level key of its schema with its default and allowed values', async (t) => {
  const site = docs.find((doc) => doc.file === 'site-reference.md')!.text;
  t.match(site, /\| `edition` \| string \| no \| `standard` \| one of `standard`, `cc-1\.4` \|/);
  t.match(site, /\| `proxy-port` \| integer \| no \| `3128` \| 1 to 65535 \|/);
  t.match(site, /## settings/);
  t.match(site, /\| `tightgate` \| list of string \| yes \|/);
  const profile = docs.find((doc) => doc.file === 'profile-reference.md')!.text;
  t.match(profile, /## probes entries/);
  t.match(profile, /\| `expect` \| string \| no \| `reachable` \| one of `reachable`, `blocked` \|/);
  t.match(profile, /### snmp[\s\S]*\| `community` \| string \|/, "each kind's options, as a profile names them");
  const agent = docs.find((doc) => doc.file === 'agent-reference.md')!.text;
  t.match(agent, /\| `interval` \| string \| no \| `5m` \| a duration/);
});
