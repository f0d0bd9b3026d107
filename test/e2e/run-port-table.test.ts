import t from 'tap';
import type { Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';
import { needsLab } from '../lab/lab.js';
import { SITE, SiteLab, siteFile, type SiteHosts } from '../lab/site-lab.js';
import { namespaceCli, printedJson, reachgate, type CliHost, type CliRun } from '../helpers/cli.js';
import type { ProbeResult, RunReport } from '../../src/core/result.js';

// `reachgate run` with every built-in TightGate-Pro profile, each from its own host in the site lab
// (src/lab/site-lab.ts: a router whose nftables rules are the port table, real daemons behind it).
// First the accepted state, where every verdict passes, and where each profile run again with `scan: auto` on every tcp
// probe must see the same state for every tcp probe; then four breaks, each of which must flip exactly the rows it
// touches to fail, with a reason a technician can act on.

type Role = Exclude<keyof SiteHosts, 'router' | 'services' | 'internet'>;

const RUN_TIMEOUT_MS = 60_000;
const ROLES: Role[] = ['workstation', 'tightgate', 'monitoring', 'dns'];

/** One probe as a line for comparing sets: row, kind, address, port, transport. */
function probeLine(result: ProbeResult): string {
  return `${result.row} ${result.kind} ${result.target.address}:${result.target.port ?? '-'}/${result.target.protocol}`;
}

/** The probes of a report that did not pass, sorted. */
function failing(report: RunReport): string[] {
  return report.results
    .filter((result) => result.verdict !== 'pass')
    .map(probeLine)
    .sort();
}

/**
 * Whether `text` is well-formed XML (elements nest and close, attributes are quoted, `<` and `&`
 * only as markup or entities, one root): the reason, or null. Enough for the JUnit we write.
 */
function xmlProblem(text: string): string | null {
  const body = text.replace(/^<\?xml [^?]*\?>\s*/, '');
  const open: string[] = [];
  let roots = 0;
  const token = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.:-]*="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  for (let match = token.exec(body); match; match = token.exec(body)) {
    const [, closing, name, attributes, selfClosing, chars, stray] = match;
    if (stray) return `a stray < at offset ${match.index}`;
    const escaped = chars ?? attributes ?? '';
    if (/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);)/i.test(escaped)) return `a bare & near offset ${match.index}`;
    if (chars !== undefined) {
      if (open.length === 0 && chars.trim() !== '') return `text outside the root element at offset ${match.index}`;
      continue;
    }
    if (closing) {
      if (open.pop() !== name) return `</${name}> closes nothing open at offset ${match.index}`;
      continue;
    }
    if (open.length === 0 && ++roots > 1) return 'more than one root element';
    if (!selfClosing) open.push(name!);
  }
  return open.length > 0 ? `unclosed <${open.join('>, <')}>` : roots === 1 ? null : 'no root element';
}

interface ProfileProbe {
  kind: string;
  options?: Record<string, unknown>;
}

/** A built-in profile with `scan: auto` on every tcp probe; how many of them prove the state only (SYN mode). */
function inScanMode(role: Role): { text: string; stateOnly: number } {
  const profile = parse(readFileSync(join(PACKAGE_ROOT, 'profiles', 'tightgate', `${role}.yaml`), 'utf8')) as {
    probes: ProfileProbe[];
  };
  let stateOnly = 0;
  for (const probe of profile.probes) {
    if (probe.kind !== 'tcp') continue;
    const options = probe.options ?? {};
    if (!['tls', 'service', 'send', 'send-hex', 'expect-reply', 'source'].some((name) => name in options)) {
      stateOnly += 1;
    }
    probe.options = { ...options, scan: 'auto' };
  }
  return { text: stringify(profile), stateOnly };
}

/** Each tcp probe of a report by row and id, with its state and reason. */
function tcpStates(report: RunReport): Map<string, { state: string; reason: string }> {
  return new Map(
    report.results
      .filter((result: ProbeResult) => result.kind === 'tcp')
      .map((result: ProbeResult) => [`${result.row} ${result.id}`, { state: result.state, reason: result.reason }]),
  );
}

if (!needsLab(t)) {
  const lab = await SiteLab.create(t);
  const files: Record<string, string> = { 'site.yaml': siteFile(), 'site-email.yaml': siteFile(['email']) };
  const stateOnly = new Map<Role, number>();
  for (const role of ROLES) {
    const { text, stateOnly: count } = inScanMode(role);
    files[`${role}-syn.yaml`] = text;
    stateOnly.set(role, count);
  }
  const dir = t.testdir(files);
  const SITE_FILE = join(dir, 'site.yaml');

  // The first run of each profile is a process of its own; the later ones on the tightgate and workstation hosts go
  // through a CLI runner there (namespaceCli: one process runs them one after the other, without a node start each).
  const runners = new Map<Role, CliHost>();
  for (const role of ['tightgate', 'workstation'] as const) runners.set(role, await namespaceCli(t, lab.hosts[role]));
  const started = new Set<Role>();

  /** `reachgate run tightgate/ROLE` on the role's own host. */
  const run = (role: Role, options: { site?: string; format?: string } = {}): Promise<CliRun> => {
    const first = !started.has(role);
    started.add(role);
    return reachgate(
      [
        'run',
        `tightgate/${role}`,
        '--site',
        options.site ?? SITE_FILE,
        '--format',
        options.format ?? 'json',
        '--agent',
        role,
      ],
      {
        ...(first || !runners.has(role) ? { netns: lab.hosts[role] } : { via: runners.get(role)! }),
        timeoutMs: RUN_TIMEOUT_MS,
      },
    );
  };

  /** Run a role's profile with the JSON format; returns the exit code and the report. */
  const runJson = async (role: Role, site?: string): Promise<{ code: number | null; report: RunReport }> => {
    const result = await run(role, site === undefined ? {} : { site });
    return { code: result.code, report: printedJson<RunReport>(result) };
  };

  /** Assert that exactly `expected` failed, and the run exited 1; returns the failed results. */
  const exactlyFailing = (t: Test, code: number | null, report: RunReport, expected: string[]): ProbeResult[] => {
    t.same(failing(report), [...expected].sort(), 'exactly these probes fail');
    t.equal(code, 1, 'exit 1: a verdict failed');
    t.same(report.summary, {
      pass: report.results.length - expected.length,
      fail: expected.length,
      inconclusive: 0,
      error: 0,
    });
    return report.results.filter((result) => result.verdict !== 'pass');
  };

  const baseline = new Map<Role, RunReport>();

  t.test('against the accepted port table every built-in profile passes from its own host', async (t) => {
    const runs = await Promise.all(ROLES.map(async (role) => [role, await runJson(role)] as const));
    for (const [role, { code, report }] of runs) {
      baseline.set(role, report);
      t.same(failing(report), [], `${role}: no probe fails`);
      t.equal(code, 0, `${role}: exit 0`);
      t.match(report, {
        role,
        site: 'site-lab',
        agent: role,
        profile: { name: `tightgate/${role}`, hash: /^[0-9a-f]{64}$/ },
        summary: { fail: 0, inconclusive: 0, error: 0 },
      });
    }
    const rows = (role: Role) => [...new Set(baseline.get(role)!.results.map((result) => result.row))];
    t.same(rows('workstation'), ['viewer', 'sftp', 'no-direct-internet', 'tightgate-only-intended']);
    t.same(rows('tightgate'), [
      'web',
      'updates',
      'rtmp',
      'ntp',
      'dns',
      'email',
      'directory',
      'file-servers',
      'syslog',
      'terminal-servers',
    ]);
    t.same(rows('monitoring'), ['snmp', 'nrpe']);
    t.same(rows('dns'), ['cluster-dns']);

    const workstation = baseline.get('workstation')!;
    const sweep = workstation.results.filter((result) => result.row === 'tightgate-only-intended');
    t.ok(sweep.length > 1000, `the common sweep probes ${sweep.length} ports of tightgate`);
    t.notOk(
      sweep.some((result) => [22, 5900].includes(result.target.port!)),
      "the viewer and sftp ports are their rows' own, not the sweep's",
    );
    t.same(
      workstation.overlaps!.map((overlap) => `${overlap.row} -> ${overlap.kept}:${overlap.port}`).sort(),
      ['tightgate-only-intended -> sftp:22', 'tightgate-only-intended -> viewer:5900'],
      'listed as overlaps',
    );
    const viewer = workstation.results.find((result) => result.row === 'viewer')!;
    t.match(viewer, { state: 'open', check: { ok: true }, evidence: { tls: { subject: `CN=${SITE.tightgateName}` } } });
    t.match(
      workstation.results.find((result) => result.row === 'sftp'),
      { state: 'open', check: { ok: true, detail: /SSH/ } },
    );

    const tightgate = baseline.get('tightgate')!;
    const unused = tightgate.results.filter((result) =>
      ['email', 'directory', 'file-servers', 'syslog', 'terminal-servers'].includes(result.row!),
    );
    t.ok(
      unused.every((result) => result.expect === 'blocked'),
      'every row whose feature is off is a negative probe',
    );
    t.same(
      [...new Set(tightgate.results.filter((result) => result.row === 'email').map((result) => result.target.address))],
      [SITE.mailServer],
      'email (off) probes the named mail server',
    );
    t.match(
      tightgate.results.find((result) => result.row === 'ntp'),
      { state: 'open', check: { ok: true, detail: /^stratum 8/ } },
    );
    t.match(baseline.get('monitoring')!.not_proven, [{ row: 'nrpe', text: /UDP/ }]);
    t.match(baseline.get('dns')!.results, [
      {
        row: 'cluster-dns',
        expect: 'blocked',
        state: 'prohibited',
        target: { address: SITE.tightgate, port: 53, protocol: 'udp' },
      },
    ]);
  });

  // `scan: auto` sends SYNs from a raw socket wherever a tcp probe proves the state only (rows with TLS or a service
  // check still connect); the other kinds run the same code in both runs. After the connect runs above, not beside
  // them, so that neither mode's traffic crowds the other's deadlines.
  t.test('every profile sees the same state for every tcp probe in connect mode and in SYN mode', async (t) => {
    const syn = await Promise.all(
      ROLES.map(async (role) => {
        const args = ['run', join(dir, `${role}-syn.yaml`), '--site', SITE_FILE, '--format', 'json', '--agent', role];
        return printedJson<RunReport>(await reachgate(args, { netns: lab.hosts[role], timeoutMs: RUN_TIMEOUT_MS }));
      }),
    );
    ROLES.forEach((role, index) => {
      const connect = baseline.get(role)!;
      const byConnect = tcpStates(connect);
      const bySyn = tcpStates(syn[index]!);
      t.same([...bySyn.keys()].sort(), [...byConnect.keys()].sort(), `${role}: the same tcp probes in both modes`);
      const differing = [...byConnect]
        .filter(([probe, { state }]) => bySyn.get(probe)?.state !== state)
        .map(([probe, seen]) => `${probe}: connect ${seen.reason}; syn ${bySyn.get(probe)?.reason}`);
      t.same(differing, [], `${role}: every tcp probe has the same state in both modes`);
      const synProbes = syn[index]!.results.filter((result) => result.evidence?.scan === 'syn').length;
      if (stateOnly.get(role)! > 0) t.ok(synProbes > 0, `${role}: ${synProbes} probes ran in SYN mode`);
      else t.equal(synProbes, 0, `${role}: no tcp probe of this profile can run in SYN mode`);
      t.equal(
        connect.results.filter((result) => result.evidence?.scan === 'syn').length,
        0,
        `${role}: the shipped profile connects`,
      );
    });
  });

  t.test('every rejected probe names the router that rejected it; none blames a missing neighbour', async (t) => {
    // Nothing in this lab is unreachable: every path is open, dropped (filtered), reset (closed) or
    // rejected by the router with an ICMP admin/host/net-prohibited error (prohibited, from the gateway).
    const gateways: string[] = Object.values(SITE.gateway);
    for (const role of ROLES) {
      const results = baseline.get(role)!.results;
      const misread = results.filter((result) => !['open', 'closed', 'filtered', 'prohibited'].includes(result.state));
      t.same(
        misread.map((result) => `${probeLine(result)} ${result.state}: ${result.reason}`),
        [],
        `${role}: every state is open, closed, filtered or prohibited`,
      );
      for (const result of results.filter((r) => r.state === 'prohibited')) {
        if (!gateways.includes(result.icmp?.from ?? ''))
          t.fail(`${role}: ${probeLine(result)} prohibited without the router's ICMP error: ${result.reason}`);
      }
    }
    const workstation = baseline.get('workstation')!;
    const states = (row: string) =>
      [...new Set(workstation.results.filter((result) => result.row === row).map((result) => result.state))].sort();
    t.same(
      states('no-direct-internet'),
      ['filtered', 'prohibited'],
      'the router drops some Internet traffic and rejects the rest',
    );
    t.same(states('tightgate-only-intended'), ['closed', 'prohibited'], 'resets below 1025, admin-prohibited above');
    const prohibited = workstation.results.filter(
      (result) => result.row === 'no-direct-internet' && result.state === 'prohibited',
    );
    t.same(
      prohibited.map((result) => `${result.kind}:${result.target.port ?? '-'}`).sort(),
      [
        'dns:53',
        'dns:53',
        'icmp:-',
        'icmp:-',
        ...['22', '25', '80'].flatMap((port) => [`tcp:${port}`, `tcp:${port}`]),
      ].sort(),
      'TCP 22, 25, 80, DNS and echo are rejected, on both canaries',
    );
    for (const result of prohibited)
      t.match(result.reason, /^rejected by 192\.0\.2\.1: ICMP (admin|host|net)-prohibited \(3\/(13|10|9)\)/);
  });

  t.test('JUnit, TAP and Nagios output of the same run are well-formed and agree with it', async (t) => {
    const [junit, tap, nagios] = await Promise.all([
      run('tightgate', { format: 'junit' }),
      run('tightgate', { format: 'tap' }),
      run('tightgate', { format: 'nagios' }),
    ]);
    const expected = baseline.get('tightgate')!;
    const rows = [...new Set(expected.results.map((result) => result.row))];

    t.equal(junit.code, 0, junit.stderr);
    t.equal(xmlProblem(junit.stdout), null, 'JUnit is well-formed XML');
    t.same(
      [...junit.stdout.matchAll(/<testsuite name="([^"]*)"/g)].map((match) => match[1]),
      rows,
      'a testsuite per row',
    );
    t.equal(junit.stdout.match(/<testcase /g)?.length, expected.results.length, 'a testcase per probe');
    t.notMatch(junit.stdout, /<failure/);

    t.equal(tap.code, 0, tap.stderr);
    const lines = tap.stdout.split('\n');
    t.equal(lines[0], 'TAP version 14');
    const plan = /^1\.\.(\d+)$/.exec(lines[1] ?? '');
    t.ok(plan, `a plan on the second line: ${lines[1]}`);
    const points = lines.filter((line) => /^(not )?ok \d+ /.test(line));
    t.equal(points.length, Number(plan?.[1]), 'the plan matches the test points');
    t.equal(points.length, expected.results.length);
    t.ok(
      points.every((line, index) => line.startsWith(`ok ${index + 1} - `)),
      'numbered in order, all ok',
    );

    t.equal(nagios.code, 0, 'Nagios OK is exit 0');
    const [status, ...details] = nagios.stdout.trimEnd().split('\n');
    const total = expected.results.length;
    t.match(
      status,
      new RegExp(
        `^REACHGATE OK - ${total} of ${total} pass, 0 fail, 0 inconclusive, 0 error \\(site-lab tightgate\\) \\| `,
      ),
    );
    const perfdata = status!.split(' | ')[1]!.split(' ');
    t.ok(
      perfdata.every((item) => /^[a-z]+=[\d.]+s?;[\d.]*;[\d.]*;[\d.]*;[\d.]*$/.test(item)),
      `perfdata label=value;warn;crit;min;max: ${perfdata.join(' ')}`,
    );
    t.same(details, [], 'no detail lines when everything passed');
  });

  t.test('without the 5900 rule exactly the viewer row fails: prohibited, rejected by the router', async (t) => {
    await lab.route({ viewer: false });
    t.teardown(() => lab.route());
    const { code, report } = await runJson('workstation');
    const [viewer] = exactlyFailing(t, code, report, [`viewer tcp ${SITE.tightgate}:5900/tcp`]);
    t.match(viewer, {
      state: 'prohibited',
      expect: 'reachable',
      icmp: { type: 3, code: 13, from: SITE.gateway.workstations },
    });
    t.match(viewer!.reason, /^rejected by 192\.0\.2\.1: ICMP admin-prohibited/);
  });

  t.test(
    'a rule that opens workstation -> Internet 443 fails exactly no-direct-internet on 443, as open',
    async (t) => {
      await lab.route({ workstationToInternet: [443] });
      t.teardown(() => lab.route());
      const { code, report } = await runJson('workstation');
      const failed = exactlyFailing(
        t,
        code,
        report,
        SITE.canaries.map((canary) => `no-direct-internet tcp ${canary}:443/tcp`),
      );
      for (const result of failed) {
        t.match(result, { state: 'open', expect: 'blocked', control: 'tightgate' });
        t.match(result.reason, /^connected in /);
      }
    },
  );

  t.test("an NTP drop fails exactly the tightgate's ntp row, as filtered; Nagios says CRITICAL", async (t) => {
    await lab.route({ ntp: 'drop' });
    t.teardown(() => lab.route());
    const [json, nagios] = await Promise.all([runJson('tightgate'), run('tightgate', { format: 'nagios' })]);
    const [ntp] = exactlyFailing(t, json.code, json.report, [`ntp ntp ${SITE.ntpServer}:123/udp`]);
    t.match(ntp, { state: 'filtered', expect: 'reachable' });
    t.ok(ntp!.attempts > 1, `asked ${ntp!.attempts} times`);
    t.match(ntp!.reason, /^no answer within 2 s \(\d attempts\): silently dropped/);
    t.equal(nagios.code, 2, 'Nagios CRITICAL is exit 2');
    t.match(
      nagios.stdout,
      /^REACHGATE CRITICAL - \d+ of \d+ pass, 1 fail, .*; first: ntp 198\.51\.100\.123:123\/udp no answer within 2 s/,
    );
    t.match(nagios.stdout, /\nFAIL ntp: ntp 198\.51\.100\.123:123\/udp filtered: no answer within/);
  });

  t.test('email turned on without a router rule fails exactly the email row, rejected by the router', async (t) => {
    const { code, report } = await runJson('tightgate', join(dir, 'site-email.yaml'));
    const failed = exactlyFailing(
      t,
      code,
      report,
      [25, 110, 143, 993, 995].map((port) => `email tcp ${SITE.mailServer}:${port}/tcp`),
    );
    for (const result of failed) {
      t.match(result, { state: 'prohibited', expect: 'reachable', icmp: { from: SITE.gateway.dmz } });
      t.match(result.reason, /^rejected by 198\.51\.100\.1: ICMP admin-prohibited/);
    }
  });
}
