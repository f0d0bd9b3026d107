import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';

// systemd-analyze verify needs no running systemd: it loads the units into a private manager in test mode.
// It does check that each ExecStart binary exists, so the units are verified inside a temporary root
// (--root) whose /usr/local/bin/reachgate is a stub. Under --root the default dependencies
// (sysinit.target, ...) are missing from the unit path: --recursive-errors=no limits the errors to our units.
const CONTRIB = join(PACKAGE_ROOT, 'contrib');
const SYSTEMD = join(CONTRIB, 'systemd');
const UNITS = readdirSync(SYSTEMD)
  .filter((name) => /\.(service|timer)$/.test(name))
  .sort();
const LAUNCHER = '/usr/local/bin/reachgate';

/** Run a command, bounded; its exit code and output. */
function run(command: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 30_000 });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A temporary root with the units installed and a stub launcher, removed at teardown. */
function unitRoot(t: Test): string {
  const root = mkdtempSync(join(tmpdir(), 'reachgate-systemd-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
  mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
  writeFileSync(join(root, LAUNCHER), '#!/bin/sh\nexit 0\n');
  chmodSync(join(root, LAUNCHER), 0o755);
  for (const unit of UNITS) copyFileSync(join(SYSTEMD, unit), join(root, 'etc/systemd/system', unit));
  return root;
}

/** A unit file's settings: key → values, in order, comments left out. */
function settings(unit: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const line of readFileSync(join(SYSTEMD, unit), 'utf8').split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match) found.set(match[1]!, [...(found.get(match[1]!) ?? []), match[2]!]);
  }
  return found;
}

const available = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8', timeout: 10_000 });
if (available.error || available.status !== 0) {
  // CI installs systemd (for systemd-analyze); a missing tool must not let CI pass unnoticed.
  if (process.env.CI === 'true') t.fail('systemd-analyze is not installed (apt-get install systemd)');
  else t.plan(0, 'systemd-analyze is not installed (apt-get install systemd)');
} else {
  t.test('the agent, its timer alternative and the coordinator units are all there', async (t) => {
    t.same(UNITS, [
      'reachgate-agent-once.service',
      'reachgate-agent.service',
      'reachgate-agent.timer',
      'reachgate-coordinator.service',
    ]);
  });

  t.test('systemd-analyze verify passes on every unit', async (t) => {
    const root = unitRoot(t);
    for (const unit of UNITS) {
      const verify = run('systemd-analyze', ['verify', '--recursive-errors=no', `--root=${root}`, unit]);
      t.equal(verify.code, 0, `${unit}: ${verify.stderr}`);
      t.equal(verify.stderr, '', `${unit}: no warning`);
    }
  });

  t.test('verify catches a misspelt setting and a missing launcher, so its pass means something', async (t) => {
    const root = unitRoot(t);
    const dir = join(root, 'etc/systemd/system');
    const agent = readFileSync(join(dir, 'reachgate-agent.service'), 'utf8');
    writeFileSync(join(dir, 'typo.service'), agent.replace('ProtectSystem=strict', 'ProtectSytem=strict'));
    const typo = run('systemd-analyze', ['verify', '--recursive-errors=no', `--root=${root}`, 'typo.service']);
    t.not(typo.code, 0);
    t.match(typo.stderr, /Unknown key 'ProtectSytem'/);
    rmSync(join(root, LAUNCHER));
    const missing = run('systemd-analyze', [
      'verify',
      '--recursive-errors=no',
      `--root=${root}`,
      'reachgate-agent.service',
    ]);
    t.not(missing.code, 0);
    t.match(missing.stderr, /Command \/usr\/local\/bin\/reachgate is not executable/);
  });

  t.test('the agent runs unprivileged with CAP_NET_RAW only, its spool under StateDirectory', async (t) => {
    for (const unit of ['reachgate-agent.service', 'reachgate-agent-once.service']) {
      const set = settings(unit);
      t.match(
        Object.fromEntries([...set].map(([key, values]) => [key, values.join(' ')])),
        {
          User: 'reachgate',
          AmbientCapabilities: 'CAP_NET_RAW',
          CapabilityBoundingSet: 'CAP_NET_RAW',
          NoNewPrivileges: 'yes',
          ProtectSystem: 'strict',
          ProtectHome: 'yes',
          PrivateTmp: 'yes',
          StateDirectory: 'reachgate',
          ConfigurationDirectory: 'reachgate',
          RestrictAddressFamilies: 'AF_INET AF_INET6 AF_NETLINK AF_UNIX',
          SystemCallArchitectures: 'native',
        },
        unit,
      );
      t.notOk(set.has('MemoryDenyWriteExecute'), `${unit}: V8's JIT needs writable code pages`);
      t.notOk(set.has('PrivateUsers'), `${unit}: capabilities in a user namespace open no raw socket`);
    }
    t.match(settings('reachgate-agent.service').get('ExecStart'), [
      `${LAUNCHER} agent --config /etc/reachgate/agent.yaml`,
    ]);
    t.match(settings('reachgate-agent-once.service').get('ExecStart'), [
      `${LAUNCHER} agent --config /etc/reachgate/agent.yaml --once`,
    ]);
    t.match(settings('reachgate-agent-once.service').get('Type'), ['oneshot']);
  });

  t.test('the timer starts the one-cycle service every 5 minutes with a random delay', async (t) => {
    const timer = settings('reachgate-agent.timer');
    t.same(timer.get('Unit'), ['reachgate-agent-once.service']);
    t.ok(UNITS.includes(timer.get('Unit')![0]!), 'verify does not check that Unit= exists; this does');
    t.same(timer.get('OnUnitActiveSec'), ['5min']);
    t.ok(timer.has('RandomizedDelaySec'));
  });

  t.test('the coordinator keeps no capability and its database under its StateDirectory', async (t) => {
    const set = settings('reachgate-coordinator.service');
    t.same(set.get('CapabilityBoundingSet'), ['']);
    t.same(set.get('StateDirectory'), ['reachgate/coordinator']);
    t.match(set.get('ExecStart')![0], /--db \/var\/lib\/reachgate\/coordinator\/reachgate\.db /);
    t.match(
      set.get('ExecStart')![0],
      /--tls-key %d\/tls\.key/,
      'the key comes from LoadCredential, readable by this service alone',
    );
  });

  t.test('systemd-analyze security rates every service exposure OK (below 3 of 10)', async (t) => {
    const root = unitRoot(t);
    for (const unit of UNITS.filter((name) => name.endsWith('.service'))) {
      const security = run('systemd-analyze', ['security', '--offline=yes', `--root=${root}`, '--no-pager', unit]);
      const level = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(security.stdout)?.[1];
      t.ok(level !== undefined && Number(level) < 3, `${unit}: exposure ${level ?? security.stderr}`);
    }
  });

  t.test('the sysusers file creates the reachgate system user', async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'reachgate-sysusers-'));
    t.teardown(() => rmSync(root, { recursive: true, force: true }));
    mkdirSync(join(root, 'etc'));
    const dry = run('systemd-sysusers', [`--root=${root}`, '--dry-run', join(SYSTEMD, 'reachgate.sysusers')]);
    t.equal(dry.code, 0, dry.stderr);
    t.match(dry.stderr, /Creating user '?reachgate'?/);
  });
}

t.test('the cron line runs one agent cycle every 5 minutes as reachgate, under flock', async (t) => {
  const text = readFileSync(join(CONTRIB, 'cron/reachgate-agent'), 'utf8');
  t.ok(text.endsWith('\n'), 'cron ignores a last line without a newline');
  const lines = text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
  t.ok(
    lines.includes('PATH=/usr/local/bin:/usr/bin:/bin'),
    "cron's default PATH has neither reachgate nor node in /usr/local/bin",
  );
  const jobs = lines.filter((line) => !/^[A-Z]+=/.test(line));
  t.equal(jobs.length, 1);
  const [minute, hour, day, month, weekday, user, ...command] = jobs[0]!.split(/\s+/);
  t.same([minute, hour, day, month, weekday, user], ['*/5', '*', '*', '*', '*', 'reachgate']);
  const shell = command.join(' ');
  t.match(shell, /flock -n \S+ reachgate agent --config \/etc\/reachgate\/agent\.yaml --once/);
  // cron turns an unescaped % into a newline.
  t.notMatch(shell, /(^|[^\\])%/);
  // The command as cron hands it to sh (\% becomes %) must at least parse.
  const parse = run('sh', ['-n', '-c', shell.replace(/\\%/g, '%')]);
  t.equal(parse.code, 0, parse.stderr);
});
