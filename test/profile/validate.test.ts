import t from 'tap';
import type { Test } from 'tap';
import { join } from 'node:path';
import { validateCommand } from '../../src/cli/validate.js';
import { IN_PROCESS, reachgate } from '../helpers/cli.js';
import { commandUsageError } from '../helpers/usage.js';

const EXAMPLE_SITE = 'profiles/examples/site.example.yaml';
const BUILT_IN = ['tightgate/workstation', 'tightgate/tightgate', 'tightgate/monitoring', 'tightgate/dns'];

const GOOD_SITE = `site: lab
hosts:
  tightgate: [198.51.100.10]
  internet-canaries: [203.0.113.80]
`;

t.test('every built-in profile is valid for the example site', async (t) => {
  const run = await reachgate(['validate', ...BUILT_IN, '--site', EXAMPLE_SITE], { via: IN_PROCESS });
  t.equal(run.code, 0, run.stderr);
  for (const name of BUILT_IN) t.match(run.stdout, new RegExp(`ok: ${name} .*probes at site example-hq`));
});

/** Write a profile and a site into a fresh folder: the arguments of `reachgate validate` for them. */
function validateArgs(t: Test, profile: string, site = GOOD_SITE): string[] {
  const dir = t.testdir({ 'profile.yaml': profile, 'site.yaml': site });
  return ['validate', join(dir, 'profile.yaml'), '--site', join(dir, 'site.yaml')];
}

/** What `reachgate validate` refuses a profile and a site with, in-process (the CLI prints it and exits 2). */
function refusal(t: Test, profile: string, site = GOOD_SITE): Promise<string> {
  return commandUsageError(validateCommand, validateArgs(t, profile, site));
}

const PROFILE_CASES: Array<[string, string, string]> = [
  [
    'an unknown key is named with a did-you-mean',
    'role: workstation\nprobes:\n  - row: viewer\n    kind: tcp\n    target: tightgate\n    portz: 5900\n',
    'profile.yaml:6:5: unknown key `portz` (did you mean `ports`?)',
  ],
  [
    'a wrong type says what was expected and what came',
    'role: workstation\nprobes:\n  - row: viewer\n    kind: tcp\n    target: tightgate\n    attempts: many\n',
    'profile.yaml:6:15: `attempts` must be a whole number, got `many`',
  ],
  [
    'an unknown variable is named with a did-you-mean',
    'role: workstation\nprobes:\n  - row: viewer\n    kind: tcp\n    target: tightgat\n    ports: 5900\n',
    'profile.yaml:5:13: unknown variable `tightgat` (did you mean `tightgate`?)',
  ],
  [
    'an unknown feature is named with a did-you-mean',
    'role: workstation\nprobes:\n  - row: sftp\n    kind: tcp\n    target: tightgate\n    ports: 22\n    feature: sfpt\n',
    'profile.yaml:7:14: unknown feature `sfpt` (did you mean `sftp`?)',
  ],
  [
    'a port out of range is an error at the port',
    'role: workstation\nprobes:\n  - row: viewer\n    kind: tcp\n    target: tightgate\n    ports: [5900, 70000]\n',
    'profile.yaml:6:19: Port 70000 is out of range',
  ],
  [
    'a blocked mode outside drop, reject and any is named at its value',
    'role: workstation\nprobes:\n  - row: viewer\n    kind: tcp\n    target: tightgate\n    expect: blocked\n    blocked: sometimes\n',
    'profile.yaml:7:14: `blocked` must be one of drop, reject, any; got `sometimes`',
  ],
  [
    'an unknown probe kind is named with a did-you-mean',
    'role: workstation\nprobes:\n  - row: viewer\n    kind: tpc\n    target: tightgate\n    ports: 5900\n',
    'profile.yaml:4:11: unknown probe kind `tpc` (did you mean `tcp`?)',
  ],
  [
    'a kind that is not a name is named at its value',
    'role: workstation\nprobes:\n  - row: viewer\n    kind: 5\n    target: tightgate\n    ports: 5900\n',
    'profile.yaml:4:11: `kind` must be a string, got `5`\n',
  ],
  [
    'a kind option that does not exist is named at its key',
    'role: workstation\nprobes:\n  - row: viewer\n    kind: tcp\n    target: tightgate\n    ports: 5900\n    options: { tsl: true }\n',
    'profile.yaml:7:16: the tcp probe has no option `tsl` (did you mean `tls`?)',
  ],
  [
    "a bad kind option value is the kind's own message at the options",
    'role: workstation\nprobes:\n  - row: viewer\n    kind: tcp\n    target: tightgate\n    ports: 5900\n    options: { expect-reply: "(" }\n',
    'profile.yaml:7:14: tcp options: Expected the `--expect-reply` option to be a regular expression',
  ],
  [
    'a missing required key names the probe',
    'role: workstation\nprobes:\n  - row: viewer\n    target: tightgate\n',
    'profile.yaml:3:5: item 1 of `probes` is missing the required key `kind`',
  ],
  [
    'broken YAML is reported at its position',
    'role: workstation\nprobes:\n  - row: viewer\n   kind: tcp\n',
    'profile.yaml:4:',
  ],
];

for (const [what, profile, expected] of PROFILE_CASES) {
  t.test(`${what}, and the profile is refused`, async (t) => {
    t.match(await refusal(t, profile), expected);
  });
}

t.test('every problem in a file is reported at once, on stderr, with exit 2 and nothing probed', async (t) => {
  const run = await reachgate(
    validateArgs(
      t,
      'role: workstation\nprobes:\n  - row: a\n    kind: tpc\n    target: tightgat\n  - row: b\n    kind: tcp\n    target: tightgate\n    expect: maybe\n',
    ),
  );
  t.equal(run.code, 2);
  t.equal(run.stdout, '');
  t.match(run.stderr, /:4:11: unknown probe kind/);
  t.match(run.stderr, /:5:13: unknown variable/);
  t.match(run.stderr, /:9:13: `expect` must be one of reachable, blocked; got `maybe`/);
});

const SITE_CASES: Array<[string, string, string]> = [
  [
    'a feature the edition does not have',
    'site: lab\nedition: cc-1.4\nfeatures: [sftp]\nhosts:\n  tightgate: [198.51.100.10]\n  internet-canaries: [203.0.113.80]\n',
    'site.yaml:3:12: feature `sftp` does not exist on edition cc-1.4',
  ],
  [
    'a feature in use without its servers',
    'site: lab\nfeatures: [ntp]\nhosts:\n  tightgate: [198.51.100.10]\n  internet-canaries: [203.0.113.80]\n',
    'site.yaml:2:12: feature `ntp` is in use, but `hosts.ntp-servers` names no server to probe',
  ],
  [
    'missing Internet canaries, which are never defaulted',
    'site: lab\nhosts:\n  tightgate: [198.51.100.10]\n',
    'site.yaml:3:3: `hosts` is missing the required key `internet-canaries`',
  ],
  [
    'a misspelt feature',
    'site: lab\nfeatures: [emial]\nhosts:\n  tightgate: [198.51.100.10]\n  internet-canaries: [203.0.113.80]\n',
    'site.yaml:2:12: item 1 of `features` must be one of',
  ],
  [
    'a host that is neither an address nor a name',
    'site: lab\nhosts:\n  tightgate: ["bad host"]\n  internet-canaries: [203.0.113.80]\n',
    'site.yaml:3:15: `bad host` is neither an IP address nor a host name',
  ],
];

for (const [what, site, expected] of SITE_CASES) {
  t.test(`a site with ${what} is invalid, with its position`, async (t) => {
    const profile =
      'role: workstation\nprobes:\n  - row: viewer\n    kind: tcp\n    target: tightgate\n    ports: 5900\n';
    t.match(await refusal(t, profile, site), expected);
  });
}

t.test('run with an invalid site probes nothing and exits 2', async (t) => {
  const dir = t.testdir({ 'site.yaml': 'site: lab\nhosts:\n  tightgate: [198.51.100.10]\n' });
  const run = await reachgate(['run', 'tightgate/workstation', '--site', join(dir, 'site.yaml')], { via: IN_PROCESS });
  t.equal(run.code, 2);
  t.match(run.stderr, /nothing was probed/);
  t.equal(run.stdout, '');
});

t.test('an unknown built-in profile says which file it looked for', async (t) => {
  const dir = t.testdir({ 'site.yaml': GOOD_SITE });
  const refused = await commandUsageError(validateCommand, [
    'validate',
    'tightgate/kiosk',
    '--site',
    join(dir, 'site.yaml'),
  ]);
  t.match(refused, /tightgate\/kiosk\.yaml:1:1: cannot read the file: ENOENT/);
});

t.test('the profiles command lists every built-in profile with its rows', async (t) => {
  const run = await reachgate(['profiles'], { via: IN_PROCESS });
  t.equal(run.code, 0);
  for (const name of BUILT_IN) t.match(run.stdout, name);
  t.match(run.stdout, /no-direct-internet: .*must be blocked.*\(control: tightgate\)/);
  t.match(run.stdout, /not proven, nrpe: NRPE over UDP/);
});
