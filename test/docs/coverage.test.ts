import t from 'tap';
import { kindNames, loadKind } from '../../src/profile/kinds.js';
import { loadProfile, type Profile } from '../../src/profile/profile.js';
import { builtInProfiles } from '../../src/profile/built-in.js';
import { coverageOf } from '../../src/docs/coverage-doc.js';
import { PORT_TABLE_ROWS } from '../../src/docs/port-table.js';

const kinds = new Map((await Promise.all(kindNames().map((name) => loadKind(name)))).map((kind) => [kind.name, kind]));
const profiles: Profile[] = [];
for (const name of builtInProfiles()) {
  const { profile } = await loadProfile(name);
  if (profile) profiles.push(profile);
}

t.test('every built-in profile loads', async (t) => {
  t.equal(profiles.length, builtInProfiles().length);
});

t.test('every row of the port table is proven by a built-in profile, or listed as not proven', async (t) => {
  const { probes, gaps } = coverageOf(profiles, kinds);
  t.same(gaps, []);
  for (const row of PORT_TABLE_ROWS)
    t.ok(
      probes.some(({ probe }) => probe.row === row.id),
      `row ${row.id} has a probe`,
    );
});

/** The built-in profiles with one profile changed. */
function changed(name: string, change: (profile: Profile) => Profile): Profile[] {
  return profiles.map((profile) => (profile.name === name ? change(profile) : profile));
}

t.test('a row whose probe is taken out shows up as a gap', async (t) => {
  const without = changed('tightgate/workstation', (profile) => ({
    ...profile,
    probes: profile.probes.filter((probe) => probe.row !== 'viewer'),
  }));
  t.same(coverageOf(without, kinds).gaps, ['row `viewer`: no built-in profile probes it']);
});

t.test('a transport no probe proves is a gap unless the profile lists it as not proven', async (t) => {
  const silent = changed('tightgate/monitoring', (profile) => ({ ...profile, notProven: [] }));
  t.same(coverageOf(silent, kinds).gaps, ['row `nrpe`: UDP 5666 is not probed, and no profile lists it as not proven']);
});

t.test('a port of the table that no probe sends to is a gap', async (t) => {
  const noImaps = changed('tightgate/tightgate', (profile) => ({
    ...profile,
    probes: profile.probes.map((probe) =>
      probe.row === 'email' && probe.options.tls ? { ...probe, ports: [995] } : probe,
    ),
  }));
  t.same(coverageOf(noImaps, kinds).gaps, [
    'row `email`: TCP 993 is not probed, and no profile lists it as not proven',
  ]);
});

t.test("a probe of a row from the wrong role, or without the row's feature, is a gap", async (t) => {
  const moved = changed('tightgate/monitoring', (profile) => ({ ...profile, role: 'tightgate' }));
  const movedGaps = coverageOf(moved, kinds).gaps;
  t.ok(
    movedGaps.some((gap) =>
      /^row `snmp` is a path from monitoring, but tightgate\/monitoring \(role tightgate\) probes it$/.test(gap),
    ),
    movedGaps.join('\n'),
  );
  const featureless = changed('tightgate/workstation', (profile) => ({
    ...profile,
    probes: profile.probes.map((probe) => (probe.row === 'sftp' ? { ...probe, feature: undefined } : probe)),
  }));
  t.same(coverageOf(featureless, kinds).gaps, [
    'row `sftp`: tightgate/workstation probe 2 has feature none, the port table sftp',
  ]);
});
