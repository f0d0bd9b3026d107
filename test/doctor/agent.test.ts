import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { reachgateJson } from '../helpers/cli.js';
import { agentFiles, freePort } from '../agent/fleet.js';
import { call, makeReport, makeTokens, serveInProcess, tempDir } from '../coordinator/coordinator-process.js';
import { doctorExitCode, runDoctor, type DoctorReport } from '../../src/doctor/doctor.js';
import type { Finding } from '../../src/doctor/finding.js';

// doctor --agent-config against a real coordinator on loopback (served in this process); the agent's site names only
// 127.0.0.1 and 127.0.0.2. The first case runs the command as a user does; the others run its doctor in this process.

/** Run `reachgate doctor --agent-config CONFIG --json` and parse its report. */
async function doctorCli(config: string): Promise<{ code: number | null; report: DoctorReport }> {
  const { code, json: report } = await reachgateJson<DoctorReport>(['doctor', '--agent-config', config, '--json']);
  return { code, report };
}

/** The command's doctor in this process: its report as `--json` prints it, and the exit code the command gives. */
async function doctor(config: string): Promise<{ code: number; report: DoctorReport }> {
  const report = JSON.parse(JSON.stringify(await runDoctor({ agentConfig: config }))) as DoctorReport;
  return { code: doctorExitCode(report), report };
}

function finding(report: DoctorReport, check: string): Finding | undefined {
  return report.findings.find((item) => item.check === check);
}

t.test('against a real coordinator', async (t) => {
  const db = join(tempDir(t), 'reachgate.db');
  const [agentToken, viewerToken] = await makeTokens(db, [
    { kind: 'agent', agent: 'ws-01', role: 'workstation' },
    { kind: 'viewer' },
  ]);
  const coordinator = await serveInProcess(t, db);
  const port = Number(new URL(coordinator.url).port);
  const agent = await agentFiles(t, port);
  const useToken = (token: string): void => {
    writeFileSync(join(agent.dir, 'token'), `${token}\n`);
    chmodSync(join(agent.dir, 'token'), 0o600);
  };

  t.test("the agent's own token: the coordinator answers with its version and takes the token", async (t) => {
    useToken(agentToken!);
    const { code, report } = await doctorCli(agent.config);
    t.match(finding(report, 'coordinator'), {
      status: 'ok',
      subject: `${coordinator.url}/healthz`,
      // In ms, or in s on a machine busy enough to take a second.
      message: /^the coordinator answers in [\d.]+ m?s: reachgate \d+\.\d+\.\d+$/,
    });
    t.match(finding(report, 'token'), {
      status: 'ok',
      subject: join(agent.dir, 'token'),
      message: 'the coordinator accepts this agent token (reports must say agent ws-01, role workstation)',
    });
    t.match(finding(report, 'open-files'), {
      evidence: { concurrency: 256, concurrency_from: `concurrency in ${agent.config}` },
    });
    t.match(
      report.findings.filter((item) => item.check === 'route'),
      [
        { status: 'ok', subject: 'tightgate 127.0.0.1', message: "127.0.0.1 is this host's own address (dev lo)" },
        { status: 'ok', subject: 'internet-canaries 127.0.0.2' },
      ],
    );
    t.match(finding(report, 'clock'), { status: 'skip', fix: /hosts\.ntp-servers/ });
    t.match(finding(report, 'spool'), { status: 'ok', message: /^no spool yet/ });
    t.equal(code, report.summary.warn + report.summary.fail > 0 ? 1 : 0);
    t.same(
      readdirSync(agent.dir).sort(),
      ['agent.yaml', 'site.yaml', 'token', 'workstation.yaml'],
      'doctor created nothing',
    );
    const { json } = await call(`${coordinator.url}/api/v1/agents`, { token: viewerToken! });
    t.same(json().agents, [], 'the token check stored no report');
  });

  t.test('an unknown token fails with the command that makes one', async (t) => {
    useToken(`rg_0123456789abcdef_${'A'.repeat(43)}`);
    const { code, report } = await doctor(agent.config);
    t.equal(code, 1);
    t.match(finding(report, 'coordinator'), { status: 'ok' });
    t.match(finding(report, 'token'), {
      status: 'fail',
      message: 'the coordinator refuses the token: unknown token',
      fix:
        `on the coordinator: reachgate token create --agent ws-01 --role workstation --db DB, and put ` +
        `the token it prints in ${join(agent.dir, 'token')} (chmod 600)`,
    });
  });

  t.test('a viewer token is not an agent token', async (t) => {
    useToken(viewerToken!);
    const { report } = await doctor(agent.config);
    t.match(finding(report, 'token'), {
      status: 'fail',
      message: /^the token is not an agent token: this route takes an agent token/,
      fix: /reachgate token create --agent ws-01/,
    });
  });

  t.test('a token file others may read is a warning', async (t) => {
    useToken(agentToken!);
    chmodSync(join(agent.dir, 'token'), 0o644);
    const { code, report } = await doctor(agent.config);
    t.equal(code, 1);
    t.match(finding(report, 'token'), { status: 'warn', fix: `chmod 600 ${join(agent.dir, 'token')}` });
  });

  t.test('a stopped coordinator fails with the probe to run, and the token is not checked', async (t) => {
    useToken(agentToken!);
    await coordinator.stop();
    const { code, report } = await doctor(agent.config);
    t.equal(code, 1);
    t.match(finding(report, 'coordinator'), {
      status: 'fail',
      message: 'cannot reach the coordinator: ECONNREFUSED',
      fix: new RegExp(`reachgate probe tcp 127\\.0\\.0\\.1:${port}$`),
    });
    t.match(finding(report, 'token'), { status: 'skip', fix: 'fix the coordinator finding first' });
  });
});

t.test("the spool: waiting reports, the oldest one's age, corrupt files; doctor moves nothing", async (t) => {
  const agent = await agentFiles(t, await freePort());
  mkdirSync(agent.spool, { mode: 0o700 });
  const now = Date.now();
  const name = (ms: number, sequence: number, id: string): string =>
    `${String(ms).padStart(15, '0')}-${String(sequence).padStart(6, '0')}-${id}.json`;
  const whole = JSON.stringify(makeReport('ws-01', 'workstation'));
  const files = {
    old: name(now - 3_600_000, 1, 'old'),
    fresh: name(now, 2, 'fresh'),
    truncated: name(now, 3, 'truncated'),
    aside: `${name(now - 60_000, 4, 'aside')}.corrupt`,
  };
  writeFileSync(join(agent.spool, files.old), whole);
  writeFileSync(join(agent.spool, files.fresh), whole);
  writeFileSync(join(agent.spool, files.truncated), whole.slice(0, 100));
  writeFileSync(join(agent.spool, files.aside), '{"id":');
  const { code, report } = await doctor(agent.config);
  t.equal(code, 1);
  const spool = finding(report, 'spool');
  t.match(spool, {
    status: 'warn',
    subject: agent.spool,
    message: new RegExp(
      `^3 reports waiting for delivery, .* KiB, the oldest from 60 min ago; 2 corrupt ` +
        `\\(${files.aside.replace(/\./g, '\\.')}, ${files.truncated.replace(/\./g, '\\.')}\\): never ` +
        `sent; reports wait longer than two intervals \\(2 s\\): delivery is failing$`,
    ),
    fix:
      `look at them, then remove them: rm ${join(agent.spool, files.aside)} ${join(agent.spool, files.truncated)}; ` +
      `see the coordinator and token findings; \`reachgate agent --config ${agent.config} --once --log-level debug\` shows why delivery fails`,
    evidence: { reports: 3, corrupt: [files.aside, files.truncated], rejected: [] },
  });
  t.ok(Math.abs(Number(spool?.evidence?.oldest_age_s) - 3600) < 60);
  t.same(readdirSync(agent.spool).sort(), Object.values(files).sort(), 'every file where it was');
});
