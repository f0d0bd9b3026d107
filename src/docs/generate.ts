import { readFileSync } from 'node:fs';
import { builtInProfiles } from '../profile/built-in.js';
import { kindNames, loadKind } from '../profile/kinds.js';
import { loadProfile, type Profile } from '../profile/profile.js';
import { schemaPath, type SchemaName } from '../profile/schema-check.js';
import { formatProblems } from '../profile/source.js';
import { coverageReference } from './coverage-doc.js';
import { probeKindsReference } from './kinds-doc.js';
import { code, table, text, value } from './markdown.js';
import { schemaReference, type SchemaNode } from './schema-doc.js';

/** One generated page: its file name under docs/ and its text. */
export interface GeneratedDoc {
  file: string;
  /** What it is generated from, for the drift message. */
  from: string;
  text: string;
}

/** The command that rewrites the generated pages, for messages and the pages themselves. */
export const REGENERATE = 'npm run build && node bin/reachgate docs --out docs';

/** Every generated page of docs/, from the JSON Schemas, the probe kinds and the built-in profiles. */
export async function generatedDocs(): Promise<GeneratedDoc[]> {
  const kinds = await Promise.all(kindNames().map((name) => loadKind(name)));
  const profiles = await loadBuiltInProfiles();
  const site = readSchema('site');
  return [
    {
      file: 'profile-reference.md',
      from: 'profiles/schema/profile.schema.json and probes/*.ts',
      text: `${schemaReference(readSchema('profile'), {
        schemaFile: 'profiles/schema/profile.schema.json',
        intro:
          'A profile is role-specific and site-neutral: which probes, against which site variables, with which expectation, ' +
          'and which port-table row each proves. The built-in ones are in [profiles/tightgate/](../profiles/tightgate/); ' +
          '`reachgate profiles` lists them, `reachgate validate FILE` checks one, and [port-table-coverage.md](port-table-coverage.md) ' +
          'shows which row each probe proves.',
      }).trimEnd()}\n\n${settingsReference(site)}\n${probeKindsReference(kinds).trimEnd()}\n`,
    },
    {
      file: 'site-reference.md',
      from: 'profiles/schema/site.schema.json',
      text: schemaReference(site, {
        schemaFile: 'profiles/schema/site.schema.json',
        intro:
          "A site file names the addresses behind the profiles' variables and the optional features in use. " +
          'A commented example: [profiles/examples/site.example.yaml](../profiles/examples/site.example.yaml). ' +
          'Check one with `reachgate validate tightgate/workstation --site site.yaml`; it sends nothing.',
      }),
    },
    {
      file: 'agent-reference.md',
      from: 'profiles/schema/agent.schema.json',
      text: schemaReference(readSchema('agent'), {
        schemaFile: 'profiles/schema/agent.schema.json',
        intro:
          '`reachgate agent --config agent.yaml` reads this file; paths in it are relative to the file. ' +
          'A commented example: [profiles/examples/agent.example.yaml](../profiles/examples/agent.example.yaml). ' +
          'Try one cycle with `reachgate agent --config agent.yaml --once`.',
      }),
    },
    {
      file: 'alerts-reference.md',
      from: 'profiles/schema/alerts.schema.json',
      text: schemaReference(readSchema('alerts'), {
        schemaFile: 'profiles/schema/alerts.schema.json',
        intro:
          '`reachgate coordinator --alerts alerts.yaml` reads this file and refuses to start when it is not valid ' +
          '(every problem at its file:line:col). How events fire, resolve and are retried: [alerts.md](alerts.md). ' +
          'A commented example: [profiles/examples/alerts.example.yaml](../profiles/examples/alerts.example.yaml).',
      }),
    },
    {
      file: 'port-table-coverage.md',
      from: 'profiles/tightgate/*.yaml',
      text: coverageReference(profiles, new Map(kinds.map((kind) => [kind.name, kind]))),
    },
  ];
}

function readSchema(name: SchemaName): SchemaNode {
  return JSON.parse(readFileSync(schemaPath(name), 'utf8')) as SchemaNode;
}

async function loadBuiltInProfiles(): Promise<Profile[]> {
  const profiles: Profile[] = [];
  for (const name of builtInProfiles()) {
    const { profile, source } = await loadProfile(name);
    if (!profile)
      throw new Error(
        `the built-in profile ${name} is not valid, so its docs cannot be generated:\n${formatProblems(source.problems)}`,
      );
    profiles.push(profile);
  }
  return profiles;
}

/** The site settings a profile may use as `${settings.NAME}`, with their defaults. */
function settingsReference(site: SchemaNode): string {
  const settings = site.properties?.settings?.properties ?? {};
  return [
    '## Site settings in profiles',
    '',
    "A probe's `ports` and `options` may use `${settings.NAME}`; the site's `settings` fill them in (see",
    '[site-reference.md](site-reference.md#settings)).',
    '',
    table(
      ['setting', 'default', 'description'],
      Object.entries(settings).map(([name, node]) => [
        code(`\${settings.${name}}`),
        node.default === undefined ? '' : value(node.default),
        text(node.description ?? ''),
      ]),
    ),
  ].join('\n');
}
