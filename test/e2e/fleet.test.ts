import t, { type Test } from 'tap';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { needsLab, waitForOutput } from '../lab/lab.js';
import { PgStore } from '../../src/coordinator/pg-store.js';
import { SqliteStore } from '../../src/coordinator/sqlite-store.js';
import type { TokenGrant } from '../../src/coordinator/store.js';
import { createToken } from '../../src/coordinator/tokens.js';
import { startPostgres, whyNoPostgres, type PgCluster } from '../helpers/postgres.js';
import { SITE, SiteLab, siteFile, type SiteHosts } from '../lab/site-lab.js';
import { BIN, namespaceCli, reachgate, reachgateJson, type CliHost, type CliRun } from '../helpers/cli.js';
import { logLines } from '../agent/fleet.js';
import type { Matrix, MatrixCell } from '../../src/core/matrix.js';

// The whole fleet on the site lab (test/lab/site-lab.ts): a real coordinator process over HTTPS on
// the monitoring host with its SQLite file (then all of it again on a real PostgreSQL), and an agent with its built-in profile on each of the
// workstation, tightgate, monitoring and dns hosts, each in its own namespace. The viewer reads the
// matrix from the workstation's desk. Then the faults: the coordinator killed while the agents run
// (reports spool, then arrive once each), and a lost router rule that shows as drift.

type Role = Exclude<keyof SiteHosts, 'router' | 'services' | 'internet'>;

interface FleetAgent {
  config: string;
  spool: string;
}

const PORT = 8443;
const COORDINATOR = `https://${SITE.monitoring}:${PORT}`;
const RUN_TIMEOUT_MS = 60_000;
// The default: named rows run before the sweep, so the sweep's 256 probes in flight no longer starve
// the workstation's viewer probe on a busy machine (it did, before the runner ran sweeps last).
const CONCURRENCY = 256;
const STOP_TIMEOUT_MS = 5_000;
const ROLES: Role[] = ['workstation', 'tightgate', 'monitoring', 'dns'];
const NAMES: Record<Role, string> = { workstation: 'ws-01', tightgate: 'tg-01', monitoring: 'mon-01', dns: 'dns-01' };
/** The rows of the four built-in profiles on the lab's site (test/e2e/run-port-table.test.ts pins them per profile). */
const ROWS = [
  'viewer',
  'sftp',
  'no-direct-internet',
  'tightgate-only-intended',
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
  'snmp',
  'nrpe',
  'cluster-dns',
];

// A viewer's HTTPS call from inside a namespace (the test process itself cannot enter one):
// prints {status, body} as JSON; the deadline is the socket's.
const VIEWER_CALL = `
const https = require('node:https'), fs = require('node:fs');
const { url, method, tokenFile, ca } = JSON.parse(process.argv[1]);
const headers = { authorization: 'Bearer ' + fs.readFileSync(tokenFile, 'utf8').trim() };
const request = https.request(url, { method, ca: fs.readFileSync(ca), timeout: 15000, headers }, (response) => {
  let body = '';
  response.setEncoding('utf8');
  response.on('data', (chunk) => { body += chunk; });
  response.on('end', () => process.stdout.write(JSON.stringify({ status: response.statusCode, body })));
});
request.on('timeout', () => request.destroy(new Error('no answer within 15 s')));
request.on('error', (error) => { console.error(error.message); process.exit(1); });
request.end();
`;

/** The JSON log lines of an agent run with this message. */
function logged(run: CliRun, msg: string): Array<Record<string, unknown>> {
  return logLines(run.stderr).filter((line) => line.msg === msg);
}

/** The report id an agent run wrote to its spool (one cycle, one report). */
function spooledId(run: CliRun): string {
  const [line] = logged(run, 'profiles run; report spooled');
  if (typeof line?.report_id !== 'string')
    throw new Error(`the agent spooled no report (exit ${run.code}): ${run.stderr.slice(0, 2000)}`);
  return line.report_id;
}

/** The cell of one agent and row, or a failure naming what is missing. */
function cellOf(matrix: Matrix, agent: string, row: string): MatrixCell {
  const cell = matrix.cells.find((c) => c.agent === agent && c.row === row);
  if (!cell) throw new Error(`no cell ${agent}|${row} in the matrix`);
  return cell;
}

/** The coordinator's store in one run of the fleet: its `--db` and the report ids it holds per agent, in order. */
interface FleetStore {
  db: string;
  storedIds(): Promise<Map<string, string[]>>;
  /** A new token for `grant`, made through the store in this process. */
  newToken(grant: TokenGrant): Promise<string>;
  /** Make the viewer's token with `reachgate token create` (the command on this kind of database). */
  viewerByCommand: boolean;
}

/** Report ids per agent from rows in storage order. */
function byAgent(rows: ReadonlyArray<{ agent: string; id: string }>): Map<string, string[]> {
  const ids = new Map<string, string[]>();
  for (const { agent, id } of rows) ids.set(agent, [...(ids.get(agent) ?? []), id]);
  return ids;
}

/** A SQLite file in `dir`, read beside the running coordinator (WAL). */
function sqliteStore(dir: string): FleetStore {
  const db = join(dir, 'reachgate.db');
  return {
    db,
    async storedIds() {
      const store = new Database(db, { readonly: true, fileMustExist: true });
      try {
        return byAgent(
          store.prepare('SELECT agent, id FROM reports ORDER BY seq').all() as Array<{ agent: string; id: string }>,
        );
      } finally {
        store.close();
      }
    },
    async newToken(grant) {
      const store = SqliteStore.open(db);
      try {
        return (await createToken(store, grant)).token;
      } finally {
        await store.close();
      }
    },
    // `token create` on a SQLite file is test/coordinator/cli.test.ts's.
    viewerByCommand: false,
  };
}

/** A fresh schema of a test PostgreSQL cluster (reached over its Unix socket from the monitoring host's namespace). */
function postgresStore(t: Test, cluster: PgCluster): FleetStore {
  const db = cluster.newDatabase();
  let store: PgStore | undefined;
  t.teardown(() => store?.close());
  return {
    db,
    async storedIds() {
      store ??= await PgStore.open(db);
      return byAgent(await store.query<{ agent: string; id: string }>('SELECT agent, id FROM reports ORDER BY seq'));
    },
    async newToken(grant) {
      store ??= await PgStore.open(db);
      return (await createToken(store, grant)).token;
    },
    // The only test of `token create --db postgres://...`.
    viewerByCommand: true,
  };
}

if (!needsLab(t)) {
  const lab = await SiteLab.create(t);
  await lab.route({ coordinator: PORT });
  const cert = await lab.certificate({ cn: 'coordinator.lab.test', sans: ['coordinator.lab.test', SITE.monitoring] });
  // The same fleet on each store, one after the other on the one lab.
  await t.test('the fleet on SQLite', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'reachgate-fleet-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    await fleet(t, lab, cert, dir, sqliteStore(dir));
  });
  const why = whyNoPostgres();
  if (why !== null) t.fail(`the fleet on PostgreSQL cannot run: ${why}`);
  else
    await t.test('the fleet on PostgreSQL', async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'reachgate-fleet-pg-'));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      await fleet(t, lab, cert, dir, postgresStore(t, startPostgres(t)));
    });
}

/**
 * Four agents, a viewer and a coordinator on `store` (files in `dir`): delivery, the coordinator killed
 * and restarted, a baseline and drift. The coordinator is stopped when `t` ends.
 */
async function fleet(
  t: Test,
  lab: SiteLab,
  cert: { certFile: string; keyFile: string },
  dir: string,
  store: FleetStore,
): Promise<void> {
  const db = store.db;
  const site = join(dir, 'site.yaml');
  writeFileSync(site, siteFile());

  /** Start the coordinator on the monitoring host (tracked by the lab, killed at teardown); resolves once it listens. */
  const startCoordinator = async (): Promise<ChildProcess> => {
    const child = await lab.spawn(lab.hosts.monitoring, 'env', [
      '-u',
      'NODE_OPTIONS',
      process.execPath,
      BIN,
      'coordinator',
      '--db',
      db,
      '--listen',
      `${SITE.monitoring}:${PORT}`,
      '--tls-cert',
      cert.certFile,
      '--tls-key',
      cert.keyFile,
    ]);
    await waitForOutput(child, 'stderr', 'coordinator listening at', 'the coordinator');
    return child;
  };

  /** Kill a process by its PID with SIGKILL and wait (bounded) for its exit. */
  const killByPid = async (child: ChildProcess): Promise<void> => {
    const exited = once(child, 'exit');
    process.kill(child.pid!, 'SIGKILL');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`the coordinator (PID ${child.pid}) did not exit within ${STOP_TIMEOUT_MS} ms of SIGKILL`)),
        STOP_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([exited, late]);
    } finally {
      clearTimeout(timer);
    }
  };

  /** A token written to a file only root may read: the store's, or what `reachgate token create ARGS` printed. */
  const tokenFile = async (name: string, grant: TokenGrant, args?: string[]): Promise<string> => {
    let token: string;
    if (args === undefined) token = `${await store.newToken(grant)}\n`;
    else {
      const run = await reachgate(['token', 'create', ...args, '--db', db]);
      if (run.code !== 0) throw new Error(`token create ${args.join(' ')} failed (${run.code}): ${run.stderr}`);
      token = run.stdout;
    }
    const file = join(dir, `${name}.token`);
    writeFileSync(file, token);
    chmodSync(file, 0o600);
    return file;
  };

  const viewerToken = await tokenFile('viewer', { kind: 'viewer' }, store.viewerByCommand ? ['--viewer'] : undefined);
  const agents = new Map<Role, FleetAgent>();
  for (const role of ROLES) {
    const name = NAMES[role];
    const token = await tokenFile(name, { kind: 'agent', agent: name, role });
    const home = join(dir, name);
    mkdirSync(home);
    const config = join(home, 'agent.yaml');
    writeFileSync(
      config,
      [
        `name: ${name}`,
        `role: ${role}`,
        `profile: tightgate/${role}`,
        `site: ${site}`,
        `coordinator: ${COORDINATOR}`,
        `token-file: ${token}`,
        `ca-file: ${cert.certFile}`,
        'interval: 10m',
        'jitter: 0s',
        'spool: spool',
        'delivery-timeout: 10s',
        `concurrency: ${CONCURRENCY}`,
        '',
      ].join('\n'),
    );
    agents.set(role, { config, spool: join(home, 'spool') });
  }

  // One CLI runner on each agent's host runs its `agent --once` command lines (test/helpers/cli.ts namespaceCli),
  // instead of a node start per run; the last run of each pass is a process of its own, as cron starts it.
  const hosts = new Map<Role, CliHost>(
    await Promise.all(ROLES.map(async (role) => [role, await namespaceCli(t, lab.hosts[role])] as const)),
  );
  /** `reachgate agent --config ... --once` on the agent's own host: by its runner, or (`process`) a process. */
  const runAgent = (role: Role, how: 'runner' | 'process' = 'runner'): Promise<CliRun> =>
    reachgate(['agent', '--config', agents.get(role)!.config, '--once'], {
      ...(how === 'runner' ? { via: hosts.get(role)! } : { netns: lab.hosts[role] }),
      timeoutMs: RUN_TIMEOUT_MS,
    });
  /** Every agent at once; their runs by role. */
  const runFleet = async (): Promise<Map<Role, CliRun>> =>
    new Map(await Promise.all(ROLES.map(async (role) => [role, await runAgent(role)] as const)));
  /** Report files waiting in an agent's spool. */
  const spooled = (role: Role): string[] =>
    readdirSync(agents.get(role)!.spool)
      .filter((name) => name.endsWith('.json'))
      .sort();

  /** A viewer's request to the coordinator, from the workstation's namespace; the status and the parsed body. */
  const viewer = async (
    method: 'GET' | 'POST',
    path: string,
  ): Promise<{ status: number; body: Record<string, unknown> }> => {
    const run = await lab.exec(lab.hosts.workstation, 'env', [
      '-u',
      'NODE_OPTIONS',
      process.execPath,
      '-e',
      VIEWER_CALL,
      JSON.stringify({ url: `${COORDINATOR}${path}`, method, tokenFile: viewerToken, ca: cert.certFile }),
    ]);
    if (run.code !== 0) throw new Error(`${method} ${path} failed: ${run.stderr}`);
    const answer = JSON.parse(run.stdout) as { status: number; body: string };
    return { status: answer.status, body: JSON.parse(answer.body) as Record<string, unknown> };
  };
  /** `GET /api/v1/matrix` as the viewer. */
  const matrixApi = async (): Promise<Matrix> => {
    const { status, body } = await viewer('GET', '/api/v1/matrix?results=true');
    if (status !== 200) throw new Error(`GET /api/v1/matrix answered ${status}: ${JSON.stringify(body)}`);
    return body as unknown as Matrix;
  };
  /** `reachgate matrix --coordinator ... --format json` on the workstation: exit code and matrix. */
  const matrixCli = async (): Promise<{ code: number | null; matrix: Matrix }> => {
    const args = ['matrix', '--coordinator', COORDINATOR, '--token-file', viewerToken, '--ca', cert.certFile];
    const options = { netns: lab.hosts.workstation };
    const { code, json: matrix } = await reachgateJson<Matrix>([...args, '--format', 'json'], options);
    return { code, matrix };
  };

  /** Every report id each agent produced, in order. */
  const produced = new Map<string, string[]>(ROLES.map((role) => [NAMES[role], []]));
  const record = (role: Role, run: CliRun): string => {
    const id = spooledId(run);
    produced.get(NAMES[role])!.push(id);
    return id;
  };

  let coordinator = await startCoordinator();
  // Stopped before the next run on the lab listens on the same address.
  t.teardown(async () => {
    if (coordinator.exitCode === null && coordinator.signalCode === null) await killByPid(coordinator);
  });

  t.test(
    "four agents on their own hosts deliver over HTTPS; the viewer's matrix has every agent and row, all passing",
    async (t) => {
      const runs = await runFleet();
      for (const [role, run] of runs) {
        const id = record(role, run);
        t.equal(run.code, 0, `${role}: exit 0, delivered`);
        t.same(spooled(role), [], `${role}: the spool is empty`);
        t.match(
          logged(run, 'report delivered'),
          [{ report_id: id, status: 201 }],
          `${role}: its report acknowledged as stored`,
        );
      }

      const matrix = await matrixApi();
      t.same(matrix.agents.map((agent) => agent.name).sort(), Object.values(NAMES).sort(), 'every agent is a column');
      for (const role of ROLES) {
        t.match(
          matrix.agents.find((agent) => agent.name === NAMES[role]),
          {
            role,
            stale: false,
            interval_s: 600,
            profile: { name: `tightgate/${role}` },
            report_id: produced.get(NAMES[role])![0],
          },
        );
      }
      t.same([...matrix.rows].sort(), [...ROWS].sort(), 'every row of the four profiles');
      t.equal(matrix.cells.length, ROWS.length, "one cell per row: each row is one role's");
      t.same(
        matrix.cells
          .filter((cell) => cell.verdict !== 'pass')
          .map((cell) => `${cell.agent}|${cell.row}: ${cell.verdict}`),
        [],
        'every cell passes',
      );
      const judged = matrix.cells.flatMap((cell) => cell.results);
      t.same(
        judged
          .filter((result) => result.verdict !== 'pass')
          .map(
            (result) =>
              `${result.row} ${result.target.address}:${result.target.port}: ${result.verdict} (${result.state}: ${result.reason})`,
          ),
        [],
        'no result is inconclusive or anything but pass',
      );
      t.match(matrix.summary, {
        pass: ROWS.length,
        fail: 0,
        inconclusive: 0,
        error: 0,
        agents: 4,
        stale_agents: 0,
        drift: 0,
      });
      t.equal(matrix.site, 'site-lab');

      const negative = cellOf(matrix, NAMES.workstation, 'no-direct-internet');
      t.ok(negative.results.length >= 2 * 10, `${negative.results.length} negative probes to the canaries`);
      const unproven = negative.results.filter(
        (result) => result.control !== 'tightgate' || !result.control_seen_by?.includes(NAMES.tightgate),
      );
      t.same(
        unproven.map((result) => `${result.kind} ${result.target.address}:${result.target.port}`),
        [],
        "each negative probe's control: tightgate saw its target open",
      );
      t.same([...new Set(negative.results.map((result) => result.target.address))].sort(), [...SITE.canaries].sort());

      const cli = await matrixCli();
      t.equal(cli.code, 0, 'reachgate matrix: exit 0, everything passes');
      t.same(
        cli.matrix.cells.map((cell) => `${cell.agent}|${cell.row}|${cell.verdict}`),
        matrix.cells.map((cell) => `${cell.agent}|${cell.row}|${cell.verdict}`),
        "the CLI shows the API's matrix",
      );
    },
  );

  t.test(
    'with the coordinator killed the agents keep their reports and exit 1; after a restart on the same database each arrives once',
    async (t) => {
      await killByPid(coordinator);
      const down = await runFleet();
      const waiting = new Map<Role, string>();
      for (const [role, run] of down) {
        waiting.set(role, record(role, run));
        t.equal(run.code, 1, `${role}: exit 1, the report is still spooled`);
        t.equal(spooled(role).length, 1, `${role}: one report in the spool`);
        t.match(
          logged(run, 'delivery failed; the report stays in the spool'),
          [{ why: /ECONNREFUSED/ }],
          `${role}: says the coordinator refused the connection`,
        );
      }
      // A copy of a report that will be delivered, to deliver it once more later: a retry after a lost acknowledgement.
      const [retryName] = spooled('dns');
      const retry = join(dir, retryName!);
      copyFileSync(join(agents.get('dns')!.spool, retryName!), retry);

      coordinator = await startCoordinator();
      const up = await runFleet();
      for (const [role, run] of up) {
        const id = record(role, run);
        t.equal(run.code, 0, `${role}: exit 0, everything delivered`);
        t.same(spooled(role), [], `${role}: the spool is empty`);
        t.same(
          logged(run, 'report delivered').map((line) => line.report_id),
          [waiting.get(role), id],
          `${role}: the older report first, then this run's`,
        );
      }
      const stored = await store.storedIds();
      for (const [name, ids] of produced)
        t.same(stored.get(name), ids, `${name}: every report it produced is stored, once, in order`);

      copyFileSync(retry, join(agents.get('dns')!.spool, retryName!));
      const dns = await runAgent('dns');
      const fresh = record('dns', dns);
      t.equal(dns.code, 0);
      t.same(spooled('dns'), []);
      t.match(
        logged(dns, 'report delivered'),
        [
          { report_id: waiting.get('dns'), status: 200 },
          { report_id: fresh, status: 201 },
        ],
        'the retried report is acknowledged as already stored',
      );
      t.same((await store.storedIds()).get(NAMES.dns), produced.get(NAMES.dns), 'and stored once');

      const report = await viewer('GET', `/api/v1/reports/${waiting.get('workstation')}`);
      t.match(
        report,
        {
          status: 200,
          body: { id: waiting.get('workstation'), report: { agent: NAMES.workstation, role: 'workstation' } },
        },
        'a report spooled while the coordinator was down can be read back',
      );
      const matrix = await matrixApi();
      t.same(
        matrix.agents.map((agent) => [agent.name, agent.report_id]).sort(),
        ROLES.map((role) => [NAMES[role], produced.get(NAMES[role])!.at(-1)]).sort(),
        "the matrix shows each agent's newest report",
      );
      t.equal(matrix.summary.pass, ROWS.length);
    },
  );

  t.test('after a baseline is accepted, losing the 5900 rule shows as drift on the viewer row alone', async (t) => {
    const accepted = await reachgateJson<Record<string, unknown>>(
      [
        'baseline',
        'accept',
        '--coordinator',
        COORDINATOR,
        '--token-file',
        viewerToken,
        '--ca',
        cert.certFile,
        '--approver',
        'E. Engineer',
        '--change',
        'CHG-ACCEPTANCE',
        '--json',
      ],
      { netns: lab.hosts.workstation },
    );
    t.match(accepted, { code: 0, json: { cells: ROWS.length, agents: 4, rows: ROWS.length, seq: 1, previous: null } });
    t.equal((await matrixApi()).drift_count, 0, 'no drift right after accepting');

    await lab.route({ coordinator: PORT, viewer: false });
    t.teardown(() => lab.route({ coordinator: PORT }));
    const run = await runAgent('workstation', 'process');
    record('workstation', run);
    t.equal(run.code, 0, "delivered: the agent's exit code is about delivery, not verdicts");

    const matrix = await matrixApi();
    const cell = cellOf(matrix, NAMES.workstation, 'viewer');
    t.match(cell, { verdict: 'fail', drift: true, baseline: 'pass' });
    t.match(cell.results, [{ state: 'prohibited', expect: 'reachable', icmp: { from: SITE.gateway.workstations } }]);
    t.same(
      matrix.cells.filter((c) => c.drift).map((c) => `${c.agent}|${c.row}`),
      [`${NAMES.workstation}|viewer`],
      'no other cell drifted',
    );
    t.equal(matrix.drift_count, 1);
    t.match(matrix.summary, { pass: ROWS.length - 1, fail: 1, drift: 1 });

    const cli = await matrixCli();
    t.equal(cli.code, 1, 'reachgate matrix: exit 1 on a failed, drifted cell');
    t.match(cellOf(cli.matrix, NAMES.workstation, 'viewer'), { verdict: 'fail', drift: true, baseline: 'pass' });
  });
}
