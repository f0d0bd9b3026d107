import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interpolate } from '../../src/profile/interpolate.js';
import { loadRun } from '../../src/profile/load.js';

t.test('only a setting of its own resolves: names from Object.prototype are unknown', async (t) => {
  const settings = { timeout: '2s', 'syslog-port': 514 };
  t.same(interpolate('${settings.syslog-port}', settings), { value: 514, unknown: [] });
  for (const name of ['constructor', 'tostring', 'valueof']) {
    const lone = interpolate(`\${settings.${name}}`, settings);
    t.same(lone, { value: undefined, unknown: [name] }, `\${settings.${name}} alone`);
    const inside = interpolate([`x-\${settings.${name}}-y`], settings);
    t.same(inside, { value: ['x--y'], unknown: [name] }, `\${settings.${name}} inside a string`);
  }
});

t.test('${settings.constructor} in a profile is an error naming the unknown setting', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-interpolate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'site.yaml'),
    'site: lab\nhosts:\n  tightgate: [127.0.0.1]\n  internet-canaries: [127.0.0.2]\n',
  );
  writeFileSync(
    join(dir, 'profile.yaml'),
    [
      'profile: test/prototype',
      'role: workstation',
      'probes:',
      '  - row: web',
      '    kind: http',
      '    target: tightgate',
      '    ports: 80',
      '    options:',
      '      expect-body: "${settings.constructor}"',
      '',
    ].join('\n'),
  );
  const loaded = await loadRun([join(dir, 'profile.yaml')], join(dir, 'site.yaml'));
  t.match(loaded.problems, [{ file: join(dir, 'profile.yaml'), message: /unknown setting `settings\.constructor`/ }]);
  t.equal(loaded.problems.length, 1);
});
