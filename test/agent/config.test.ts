import t from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';
import { reachgate } from '../helpers/cli.js';
import { agentFiles, agentOnce, freePort, logLines } from './fleet.js';

t.test('every problem of an agent config is named with file:line:col, and nothing is probed (exit 2)', async (t) => {
  const agent = await agentFiles(t, await freePort());
  const config = join(agent.dir, 'bad.yaml');
  writeFileSync(
    config,
    [
      'name: ws-01',
      'profile: workstation.yaml',
      'site: site.yaml',
      'coordinator: ftp://coordinator.example',
      'token-file: token',
      'interval: 5 minutes',
      'jitter: 2m',
      'spool: spool',
      'spool-max: 12 GB',
      'retry-max: 2h',
      'intervall: 5m',
      '',
    ].join('\n'),
  );
  const run = await reachgate(['agent', '--config', config, '--once']);
  t.equal(run.code, 2);
  t.equal(run.stdout, '');
  const problems = run.stderr.split('\n').filter((line) => line.startsWith(config));
  t.match(problems, [
    /bad\.yaml:4:14: `coordinator` must be an https:\/\/ \(or http:\/\/\) URL/,
    /bad\.yaml:6:11: `interval` `5 minutes` is not of the expected form \(a duration like 2s or 500ms\)/,
    /bad\.yaml:9:12: `spool-max` must be a number of reports \(like 1000\) or a size \(like 256MiB\)/,
    /bad\.yaml:10:12: `retry-max` `2h` is not of the expected form/,
    /bad\.yaml:11:1: unknown key `intervall` \(did you mean `interval`\?\)/,
  ]);
  t.equal(agent.all().length, 0, 'no spool was created');
});

t.test('a role that does not match the profile, and a profile with an error, are reported together', async (t) => {
  const agent = await agentFiles(t, await freePort());
  writeFileSync(
    join(agent.dir, 'broken.yaml'),
    'role: workstation\nprobes:\n  - row: viewer\n    kind: tcpp\n    target: tightgate\n',
  );
  const config = join(agent.dir, 'role.yaml');
  writeFileSync(
    config,
    `name: ws-01\nrole: tightgate\nprofile: workstation.yaml\nsite: site.yaml\ncoordinator: http://127.0.0.1:9\ntoken-file: token\nspool: spool\n`,
  );
  const run = await agentOnce(config);
  t.equal(run.code, 2);
  t.match(run.stderr, /role\.yaml:2:7: `role` is `tightgate`, but the profiles are for role `workstation`/);
  writeFileSync(
    config,
    `profile: [broken.yaml]\nsite: site.yaml\ncoordinator: http://127.0.0.1:9\ntoken-file: token\nspool: spool\n`,
  );
  const broken = await agentOnce(config);
  t.equal(broken.code, 2);
  t.match(broken.stderr, /broken\.yaml:4:11: unknown probe kind `tcpp` \(did you mean `tcp`\?\)/);
});

t.test('a missing or empty token file stops the agent before it probes', async (t) => {
  const agent = await agentFiles(t, await freePort());
  writeFileSync(join(agent.dir, 'token'), '\n');
  const empty = await agentOnce(agent.config);
  t.equal(empty.code, 2);
  t.match(empty.stderr, /the `token-file` .*token is empty/);
  t.match(empty.stderr, /reachgate token create/);
  const missing = await agentOnce(join(agent.dir, 'nope.yaml'));
  t.equal(missing.code, 2);
  t.match(missing.stderr, /nope\.yaml:1:1: cannot read the file: ENOENT/);
});

t.test('a token file others can read is refused; --allow-insecure-token-file accepts it with a warning', async (t) => {
  const agent = await agentFiles(t, await freePort());
  const token = join(agent.dir, 'token');
  chmodSync(token, 0o644);
  const refused = await agentOnce(agent.config);
  t.equal(refused.code, 2);
  t.match(refused.stderr, `the \`token-file\` ${token} is open to group or others (mode 644)`);
  t.match(refused.stderr, `chmod 600 ${token}`);
  t.same(agent.all(), [], 'refused before anything was probed or spooled');
  chmodSync(token, 0o640);
  const accepted = await reachgate(['agent', '--config', agent.config, '--once', '--allow-insecure-token-file']);
  t.equal(accepted.code, 1, 'it ran: the coordinator is down, so the report stays spooled');
  t.match(
    logLines(accepted.stderr).find((line) => line.level === 40),
    { msg: /token file is readable by others \(accepted with --allow-insecure-token-file\)/, mode: '640' },
  );
});

t.test('the example agent config in profiles/examples is valid', async (t) => {
  const { loadAgentConfig } = await import('../../src/agent/config.js');
  const { config, run } = await loadAgentConfig(join(PACKAGE_ROOT, 'profiles', 'examples', 'agent.example.yaml'));
  t.match(config, {
    name: 'ws-0815',
    role: 'workstation',
    reportsUrl: 'https://reachgate.example-hq.invalid:8443/api/v1/reports',
    intervalMs: 300_000,
    jitterMs: 30_000,
    spoolLimit: { bytes: 256 * 1024 * 1024 },
    retryMinMs: 2000,
    retryMaxMs: 300_000,
  });
  t.equal(run.site.name, 'example-hq');
  t.equal(run.profiles[0]!.name, 'tightgate/workstation');
});
