import t from 'tap';
import { readFileSync } from 'node:fs';
import { kindNames } from '../../src/profile/kinds.js';
import { schemaPath } from '../../src/profile/schema-check.js';

interface ProfileSchema {
  definitions: { probe: { properties: { kind: { enum: string[] } } } };
}

t.test('the profile schema offers exactly the probe kinds under probes/', async (t) => {
  const schema = JSON.parse(readFileSync(schemaPath('profile'), 'utf8')) as ProfileSchema;
  const offered = schema.definitions.probe.properties.kind.enum;
  t.ok(kindNames().length > 0, 'probes/ holds probe kinds');
  t.same(
    [...offered].sort(),
    kindNames(),
    'profiles/schema/profile.schema.json: the enum of definitions.probe.properties.kind must list each module in probes/',
  );
});
