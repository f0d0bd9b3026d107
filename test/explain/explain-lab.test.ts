// `reachgate explain` on the site lab (src/lab/site-lab.ts: the port table on a router's nftables, real daemons
// behind it): an open row, a prohibited row, a negative row without and with its control, and a dropped row
// probed live. Small profiles keep the runs short; the dns role runs its built-in profile.
import t from 'tap';
import { join } from 'node:path';
import { needsLab } from '../lab/lab.js';
import { SITE, SiteLab, siteFile } from '../lab/site-lab.js';
import { IN_PROCESS, printedJson, reachgate, type CliRun } from '../helpers/cli.js';
import type { Story } from '../../src/explain/story.js';

const RUN_TIMEOUT_MS = 60_000;

const WORKSTATION = `profile: explain-ws
role: workstation
probes:
  - row: viewer
    kind: tcp
    target: tightgate
    ports: 5900
    options: { tls: true }
  - row: no-direct-internet
    kind: tcp
    target: internet-canaries
    ports: [80, 443]
    expect: blocked
    control: tightgate
`;
const TIGHTGATE = `profile: explain-tg
role: tightgate
probes:
  - row: web
    kind: tcp
    target: internet-canaries
    ports: 443
  - row: ntp
    kind: ntp
    target: ntp-servers
    feature: ntp
`;

/** The lines of one step of a story. */
const step = (story: Story, number: number): string => story.steps[number - 1]!.lines.join('\n');

if (!needsLab(t)) {
  const lab = await SiteLab.create(t);
  const dir = t.testdir({ 'site.yaml': siteFile(), 'ws.yaml': WORKSTATION, 'tg.yaml': TIGHTGATE });
  const file = (name: string): string => join(dir, name);

  /** `reachgate run PROFILE --site site.yaml` on a role's host, its RunReport written to AGENT.json. */
  const run = (role: keyof typeof lab.hosts, profile: string, agent: string): Promise<CliRun> =>
    reachgate(
      [
        'run',
        profile,
        '--site',
        file('site.yaml'),
        '--agent',
        agent,
        '--format',
        'json',
        '--out',
        file(`${agent}.json`),
      ],
      { netns: lab.hosts[role], timeoutMs: RUN_TIMEOUT_MS },
    );
  /** `reachgate explain ROW ... --json`: the exit code and the story. */
  const explain = async (args: string[], netns?: string): Promise<{ code: number | null; story: Story }> => {
    const cli = await reachgate(['explain', ...args, '--json'], {
      timeoutMs: RUN_TIMEOUT_MS,
      ...(netns ? { netns } : { via: IN_PROCESS }),
    });
    return { code: cli.code, story: printedJson<Story>(cli) };
  };

  const runs = await Promise.all([
    run('workstation', file('ws.yaml'), 'ws'),
    run('tightgate', file('tg.yaml'), 'tg'),
    run('dns', 'tightgate/dns', 'dns'),
  ]);
  for (const each of runs) if (each.code === null) throw new Error(`a run did not finish: ${each.stderr}`);

  t.test('an open row: entry, site value, the route from the workstation, and the answer', async (t) => {
    const cli = await reachgate(
      ['explain', 'viewer', '--report', file('ws.json'), '--profile', file('ws.yaml'), '--site', file('site.yaml')],
      { timeoutMs: RUN_TIMEOUT_MS, via: IN_PROCESS },
    );
    t.equal(cli.code, 0, cli.stderr);
    // Long paths wrap: read the text with its continuation lines joined.
    const text = cli.stdout.replace(/\n +/g, ' ');
    t.match(text, /^Row viewer of agent ws \(role workstation, site site-lab\): pass, from report /);
    t.match(text, /explain-ws entry 1 \(.*ws\.yaml:4\): tcp to tightgate, ports 5900, options \{"tls":true\}/);
    t.match(text, `site site-lab: tightgate = ${SITE.tightgate}; settings.timeout = 2s`);
    t.match(text, `${SITE.tightgate}: via ${SITE.gateway.workstations} dev eth0, source ${SITE.workstation}`);
    t.match(text, /tcp 198\.51\.100\.10:5900\/tcp: open: connected in [\d.]+ m?s\b/);
    t.match(text, `answered by ${SITE.tightgate} in`);
    t.match(text, /check ok: .*CN=tightgate\.lab\.test/);
    t.match(text, 'nothing to fix: every probe of the row passed');
    t.same(
      cli.stdout.split('\n').filter((line) => line.length > 100),
      [],
      'every line fits 100 columns',
    );
  });

  t.test('a prohibited row names the router that rejected it as the first hop of its route', async (t) => {
    const { code, story } = await explain(['cluster-dns', '--report', file('dns.json'), '--site', file('site.yaml')]);
    t.equal(code, 0, 'the block passes');
    t.match(story, { row: 'cluster-dns', agent: 'dns', role: 'dns', verdict: 'pass' });
    t.match(step(story, 1), /tightgate\/dns entry 1 .*: dns to cluster-nodes, .*feature cluster/);
    t.match(step(story, 1), 'no target variable is named at site-lab: the fallback tightgate is probed');
    t.match(step(story, 1), 'feature cluster is not in use at site-lab: the path must be closed, expected blocked');
    t.match(step(story, 3), `${SITE.tightgate}: via ${SITE.gateway.management} dev eth0, source ${SITE.dns}`);
    t.match(
      step(story, 5),
      /dns 198\.51\.100\.10:53\/udp: prohibited: rejected by 192\.0\.2\.65: ICMP admin-prohibited/,
    );
    t.match(step(story, 5), `ICMP 3/13 from ${SITE.gateway.management}, the first router on the route (step 3)`);
    t.match(step(story, 8), /see docs\/troubleshooting\.md#prohibited/);
    t.match(step(story, 8), /- rejected by 192\.0\.2\.1: ICMP admin-prohibited \(3\/13\) after 0\.4 ms: a reject rule/);
  });

  t.test('a negative row whose control role is missing is inconclusive; its report makes it pass', async (t) => {
    const alone = await explain(['no-direct-internet', '--report', file('ws.json')]);
    t.equal(alone.code, 1, 'inconclusive exits 1');
    t.match(alone.story, { verdict: 'inconclusive', reported_verdict: 'pass' });
    for (const canary of SITE.canaries)
      t.match(step(alone.story, 6), `${canary}: missing: no agent of role tightgate is at hand`);
    t.match(step(alone.story, 8), /#inconclusive-in-the-matrix/);

    const both = await explain(['no-direct-internet', '--report', file('ws.json'), file('tg.json')]);
    t.equal(both.code, 0);
    t.match(both.story, { verdict: 'pass', agent: 'ws' });
    for (const canary of SITE.canaries)
      t.match(step(both.story, 6), `${canary}: met: tightgate agent(s) tg saw it open`);
    const answers = step(both.story, 5);
    t.match(answers, /tcp 203\.0\.113\.80:80\/tcp: prohibited: rejected by 192\.0\.2\.1/);
    t.match(answers, `ICMP 3/13 from ${SITE.gateway.workstations}, the first router on the route (step 3)`);
    t.match(answers, /tcp 203\.0\.113\.80:443\/tcp: filtered: no answer within 2 s/);
    // Nothing sent to a canary answers the workstation: its loss cannot be measured, the configured attempt stands.
    t.match(answers, 'silent to 1 attempt in 1 round; loss not measured: nothing sent to 203.0.113.80 answered');
  });

  t.test('a dropped row probed live: filtered, its route read here, and the guide on silence', async (t) => {
    await lab.route({ ntp: 'drop' });
    t.teardown(() => lab.route());
    const { code, story } = await explain(
      ['ntp', '--profile', file('tg.yaml'), '--site', file('site.yaml'), '--agent', 'tg'],
      lab.hosts.tightgate,
    );
    t.equal(code, 1, 'a failed row exits 1');
    t.match(story, { mode: 'live', row: 'ntp', agent: 'tg', verdict: 'fail' });
    t.match(step(story, 1), 'feature ntp is in use at site-lab: expected reachable');
    t.match(step(story, 3), `${SITE.ntpServer}: via ${SITE.gateway.dmz} dev eth0, source ${SITE.tightgate}`);
    t.match(
      step(story, 5),
      /ntp 198\.51\.100\.123:123\/udp: filtered: no answer within 2 s \(\d attempts\): silently dropped/,
    );
    t.match(step(story, 5), `loss not measured: nothing sent to ${SITE.ntpServer} answered in this run`);
    t.match(step(story, 6), 'no control: the row expects the path open');
    t.match(step(story, 7), /a live run has no baseline/);
    t.match(step(story, 8), /see docs\/troubleshooting\.md#filtered[^]*1\. Check the control row/);
  });

  t.test('a row name that is not there exits 2 and lists the close matches', async (t) => {
    const cli = await reachgate(['explain', 'veiwer', '--report', file('ws.json')]);
    t.equal(cli.code, 2);
    t.equal(cli.stdout, '');
    t.match(
      cli.stderr,
      /^reachgate: no row `veiwer` in .*ws\.json; close matches: viewer\nRows there: viewer, no-direct-internet\./,
    );
  });
}
