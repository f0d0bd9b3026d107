import { readFileSync, realpathSync } from 'node:fs';
import t from 'tap';
import { printedJson, reachgate, reachgateJson, type CliOptions, type CliRun } from '../helpers/cli.js';
import { runDoctor, type DoctorReport } from '../../src/doctor/doctor.js';
import type { Finding } from '../../src/doctor/finding.js';

// `doctor` without a site or an agent config looks at this host only and sends nothing.

/** Run `reachgate doctor --json ARGS` and parse its report. */
async function doctor(args: string[] = [], options: CliOptions = {}): Promise<CliRun & { report: DoctorReport }> {
  const { json: report, ...run } = await reachgateJson<DoctorReport>(['doctor', '--json', ...args], options);
  return { ...run, report };
}

function finding(report: DoctorReport, check: string): Finding {
  const found = report.findings.find((item) => item.check === check);
  if (!found) throw new Error(`no ${check} finding in ${JSON.stringify(report.findings)}`);
  return found;
}

const root = process.getuid?.() === 0;

t.test(
  'every finding that is not ok carries a fix line, and the exit code is 1 exactly when one warns or fails',
  async (t) => {
    const { code, report, stderr } = await doctor();
    t.equal(stderr, '');
    for (const item of report.findings) {
      if (item.status !== 'ok') t.match(item.fix, /\S/, `${item.check}: ${item.message}`);
    }
    t.equal(code, report.summary.warn + report.summary.fail > 0 ? 1 : 0);
    t.same(
      report.findings.map((item) => item.check),
      ['raw-socket', 'open-files', 'resolvers', 'route', 'coordinator'],
    );
    t.match(finding(report, 'route'), { status: 'skip', fix: /--site FILE/ });
    t.match(finding(report, 'coordinator'), { status: 'skip', fix: /--agent-config FILE/ });
  },
);

t.test('as root the raw ICMP socket opens', { skip: root ? false : 'needs root' }, async (t) => {
  // The command's doctor in this process (root too): the command itself ran in the test above.
  const report = JSON.parse(JSON.stringify(await runDoctor({}))) as DoctorReport;
  t.match(finding(report, 'raw-socket'), {
    status: 'ok',
    message: /^raw ICMP sockets open here \(running as root\)/,
    evidence: { module: 'loads', cap_net_raw: true, uid: 0 },
  });
});

t.test(
  'as nobody the raw-socket finding warns and says how to grant CAP_NET_RAW',
  { skip: root ? false : 'needs root to become nobody' },
  async (t) => {
    const { code, report } = await doctor([], { user: 'nobody' });
    t.equal(code, 1);
    const raw = finding(report, 'raw-socket');
    t.match(raw, {
      status: 'warn',
      message: /^no raw ICMP socket: .*needs CAP_NET_RAW/,
      evidence: { cap_net_raw: false, uid: 65534 },
    });
    t.match(raw.fix, /AmbientCapabilities=CAP_NET_RAW/);
    t.ok(
      raw.fix?.includes(`setcap cap_net_raw+ep ${realpathSync(process.execPath)} `),
      'the fix names the node binary itself, not a link to it',
    );
  },
);

t.test('REACHGATE_RAW_SOCKET=off is a warning whose fix is to unset it', async (t) => {
  const { code, report } = await doctor([], { env: { REACHGATE_RAW_SOCKET: 'off' } });
  t.equal(code, 1);
  t.match(finding(report, 'raw-socket'), { status: 'warn', fix: 'unset REACHGATE_RAW_SOCKET' });
});

t.test('an open-files limit below the default concurrency warns with the number to raise it to', async (t) => {
  // prlimit lowers the limit for this one run (node raises its soft limit to the hard one, so both are set):
  // the default concurrency 256 needs 256 sockets plus 64 descriptors kept free.
  const run = await reachgate(['doctor', '--json'], { wrapper: ['prlimit', '--nofile=200:200'] });
  t.equal(run.code, 1, run.stderr);
  const report = printedJson<DoctorReport>(run);
  t.match(finding(report, 'open-files'), {
    status: 'warn',
    message:
      'open-files limit 200 leaves room for 136 sockets: probes run 136 at a time, not 256 (the default --concurrency)',
    fix:
      'raise the hard limit to 320: LimitNOFILE=320 in the systemd unit, ulimit -Hn 320 (as root) ' +
      'before starting reachgate, or nofile in /etc/security/limits.conf; or lower the concurrency to 136',
    evidence: { soft: 200, hard: 200, sockets: 136, concurrency: 256 },
  });
});

t.test('the resolvers finding lists the nameservers of /etc/resolv.conf', async (t) => {
  const { report } = await doctor();
  const nameservers = readFileSync('/etc/resolv.conf', 'utf8')
    .split('\n')
    .map((line) => /^\s*nameserver\s+(\S+)/.exec(line)?.[1])
    .filter((address) => address !== undefined);
  t.match(finding(report, 'resolvers'), { evidence: { file: '/etc/resolv.conf', nameservers } });
});

t.test('the table output shows each finding on a line and the fix under it', async (t) => {
  const run = await reachgate(['doctor'], { env: { REACHGATE_RAW_SOCKET: 'off' } });
  t.equal(run.code, 1);
  t.match(run.stdout, /^reachgate \S+ doctor on \S+ \(uid \d+, node v\d+/);
  t.match(
    run.stdout,
    /\nWARN  raw-socket  the ICMP listener is off on purpose .*\n {18}fix: unset REACHGATE_RAW_SOCKET\n/,
  );
  t.match(run.stdout, /\n\d+ findings: \d+ ok, \d+ warn, \d+ fail, 2 not checked\n$/);
});

t.test('an invalid site is a usage error (exit 2) that names the file, line and column', async (t) => {
  const run = await reachgate(['doctor', '--site', '/nonexistent/site.yaml']);
  t.equal(run.code, 2);
  t.match(run.stderr, /\/nonexistent\/site\.yaml/);
  t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
  t.equal(run.stdout, '');
});
