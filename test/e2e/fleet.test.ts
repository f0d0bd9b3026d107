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
// the monitoring host with its SQLite file, and an agent with its built-in profile on each of the
// workstation, tightgate, monitoring and dns hosts, each in its own namespace. The viewer reads the
// matrix from the workstation's desk. Then the faults: the coordinator killed while the agents run
// (reports spool, then arrive once each), and a lost router rule that shows as drift.
// Then the same coordinator on a real PostgreSQL, given the very reports the agents delivered to the SQLite one, in
// the same order and steps (a restart on the same database, a retried report, a baseline, the drifted report): what
// the store does is proven again, what the agents do (probing, spooling, delivering) is not repeated.

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

// HTTPS calls from inside a namespace (the test process itself cannot enter one), one after the other: a viewer's, or
// an agent's POST of a report file. Prints [{status, body}] as JSON; the deadline is the socket's.
const CALLS = `
const https = require('node:https'), fs = require('node:fs');
const { calls, ca } = JSON.parse(process.argv[1]);
const call = ({ url, method, tokenFile, bodyFile }) => new Promise((resolve, reject) => {
  const headers = { authorization: 'Bearer ' + fs.readFileSync(tokenFile, 'utf8').trim() };
  if (bodyFile) headers['content-type'] = 'application/json';
  const request = https.request(url, { method, ca: fs.readFileSync(ca), timeout: 15000, headers }, (response) => {
    let body = '';
    response.setEncoding('utf8');
    response.on('data', (chunk) => { body += chunk; });
    response.on('end', () => resolve({ status: response.statusCode, body }));
  });
  request.on('timeout', () => request.destroy(new Error('no answer within 15 s')));
  request.on('error', reject);
  request.end(bodyFile ? fs.readFileSync(bodyFile) : undefined);
});
(async () => {
  const answers = [];
  for (const one of calls) answers.push(await call(one));
  process.stdout.write(JSON.stringify(answers));
})().catch((error) => { console.error(error.message); process.exit(1); });
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
function sqliteStore(dir: string): FleetStore & { storedJson(): Promise<Map<string, string>> } {
  const db = join(dir, 'reachgate.db');
  const read = <T>(query: (store: Database.Database) => T): T => {
    const store = new Database(db, { readonly: true, fileMustExist: true });
    try {
      return query(store);
    } finally {
      store.close();
    }
  };
  return {
    db,
    async storedIds() {
      return read((store) =>
        byAgent(
          store.prepare('SELECT agent, id FROM reports ORDER BY seq').all() as Array<{ agent: string; id: string }>,
        ),
      );
    },
    /** Each stored report's JSON by its id, as its agent posted it. */
    async storedJson() {
      return read((store) => {
        const rows = store.prepare('SELECT id, json FROM reports').all() as Array<{ id: string; json: string }>;
        return new Map(rows.map(({ id, json }) => [id, json]));
      });
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
  // The fleet on SQLite, then its reports again on PostgreSQL, one after the other on the one lab.
  let reports: FleetReports | undefined;
  await t.test('the fleet on SQLite', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'reachgate-fleet-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const store = sqliteStore(dir);
    const steps = await fleet(t, lab, cert, dir, store);
    const complete = [steps.first, steps.waiting, steps.after].every((step) => step.size === ROLES.length);
    if (complete && steps.dnsLast !== '' && steps.drifted !== '')
      reports = { ...steps, json: await store.storedJson() };
  });
  const why = whyNoPostgres();
  if (why !== null) t.fail(`the fleet on PostgreSQL cannot run: ${why}`);
  else if (reports === undefined)
    t.fail('the fleet on PostgreSQL cannot run: the SQLite pass did not finish its steps');
  else {
    const delivered = reports;
    await t.test("the fleet's reports on PostgreSQL", async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'reachgate-fleet-pg-'));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      await replay(t, lab, cert, dir, postgresStore(t, startPostgres(t)), delivered);
    });
  }
}

/** A coordinator on `store` (files in `dir`) with a viewer on the workstation: how the tests start, stop and ask it. */
interface Coordinator {
  /** Start it on the monitoring host (tracked by the lab, killed at teardown); resolves once it listens. */
  start(): Promise<void>;
  /** Kill it by its PID with SIGKILL and wait (bounded) for its exit. */
  kill(): Promise<void>;
  /** A token written to a file only root may read: the store's, or what `reachgate token create ARGS` printed. */
  tokenFile(name: string, grant: TokenGrant, args?: string[]): Promise<string>;
  viewerToken: string;
  /** HTTPS calls from the workstation's namespace, one after the other (CALLS); statuses and parsed bodies. */
  calls(
    calls: Array<{ path: string; method: 'GET' | 'POST'; tokenFile: string; bodyFile?: string }>,
  ): Promise<Array<{ status: number; body: Record<string, unknown> }>>;
  /** A viewer's request. */
  viewer(method: 'GET' | 'POST', path: string): Promise<{ status: number; body: Record<string, unknown> }>;
  /** `GET /api/v1/matrix` as the viewer. */
  matrixApi(): Promise<Matrix>;
  /** `reachgate matrix --coordinator ... --format json` on the workstation: exit code and matrix. */
  matrixCli(): Promise<{ code: number | null; matrix: Matrix }>;
  /** `reachgate baseline accept` on the workstation, as the viewer. */
  acceptBaseline(): Promise<CliRun & { json: Record<string, unknown> }>;
}

async function coordinatorOn(
  t: Test,
  lab: SiteLab,
  cert: { certFile: string; keyFile: string },
  dir: string,
  store: FleetStore,
): Promise<Coordinator> {
  const db = store.db;
  let child: ChildProcess | undefined;
  const kill = async (): Promise<void> => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    process.kill(child.pid!, 'SIGKILL');
    let timer: NodeJS.Timeout | undefined;
    const pid = child.pid;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the coordinator (PID ${pid}) did not exit within ${STOP_TIMEOUT_MS} ms of SIGKILL`)),
        STOP_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([exited, late]);
    } finally {
      clearTimeout(timer);
    }
  };
  // Stopped before the next run on the lab listens on the same address.
  t.teardown(kill);

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

  const calls: Coordinator['calls'] = async (list) => {
    const run = await lab.exec(lab.hosts.workstation, 'env', [
      '-u',
      'NODE_OPTIONS',
      process.execPath,
      '-e',
      CALLS,
      JSON.stringify({
        ca: cert.certFile,
        calls: list.map(({ path, ...call }) => ({ url: `${COORDINATOR}${path}`, ...call })),
      }),
    ]);
    const what = list.map(({ method, path }) => `${method} ${path}`).join(', ');
    if (run.code !== 0) throw new Error(`${what} failed: ${run.stderr}`);
    const answers = JSON.parse(run.stdout) as Array<{ status: number; body: string }>;
    return answers.map(({ status, body }) => ({ status, body: JSON.parse(body) as Record<string, unknown> }));
  };
  const viewer: Coordinator['viewer'] = async (method, path) =>
    (await calls([{ method, path, tokenFile: viewerToken }]))[0]!;
  const coordinatorArgs = ['--coordinator', COORDINATOR, '--token-file', viewerToken, '--ca', cert.certFile];

  return {
    async start() {
      child = await lab.spawn(lab.hosts.monitoring, 'env', [
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
    },
    kill,
    tokenFile,
    viewerToken,
    calls,
    viewer,
    async matrixApi() {
      const { status, body } = await viewer('GET', '/api/v1/matrix?results=true');
      if (status !== 200) throw new Error(`GET /api/v1/matrix answered ${status}: ${JSON.stringify(body)}`);
      return body as unknown as Matrix;
    },
    async matrixCli() {
      const args = ['matrix', ...coordinatorArgs, '--format', 'json'];
      const { code, json: matrix } = await reachgateJson<Matrix>(args, { netns: lab.hosts.workstation });
      return { code, matrix };
    },
    acceptBaseline() {
      const args = ['baseline', 'accept', ...coordinatorArgs];
      const approval = ['--approver', 'E. Engineer', '--change', 'CHG-ACCEPTANCE', '--json'];
      return reachgateJson<Record<string, unknown>>([...args, ...approval], { netns: lab.hosts.workstation });
    },
  };
}

/** The report ids of one fleet run, by step: what the PostgreSQL pass delivers again, in the same order. */
interface FleetSteps {
  /** Every report id each agent produced, in order. */
  produced: Map<string, string[]>;
  /** Each agent's first report, delivered at once. */
  first: Map<Role, string>;
  /** Each agent's report spooled while the coordinator was down. */
  waiting: Map<Role, string>;
  /** Each agent's report of the run after the restart, delivered after the waiting one. */
  after: Map<Role, string>;
  /** The dns agent's report delivered after the retry of its waiting report. */
  dnsLast: string;
  /** The workstation's report after the viewer rule was lost. */
  drifted: string;
}

/** A fleet run's steps and each of its reports' JSON as the agents posted it. */
interface FleetReports extends FleetSteps {
  json: Map<string, string>;
}

/** The viewer's matrix after each agent's first report: every agent and row, all passing. */
function expectAllPassing(t: Test, matrix: Matrix, first: Map<Role, string>): void {
  t.same(matrix.agents.map((agent) => agent.name).sort(), Object.values(NAMES).sort(), 'every agent is a column');
  for (const role of ROLES) {
    t.match(
      matrix.agents.find((agent) => agent.name === NAMES[role]),
      { role, stale: false, interval_s: 600, profile: { name: `tightgate/${role}` }, report_id: first.get(role) },
    );
  }
  t.same([...matrix.rows].sort(), [...ROWS].sort(), 'every row of the four profiles');
  t.equal(matrix.cells.length, ROWS.length, "one cell per row: each row is one role's");
  t.same(
    matrix.cells.filter((cell) => cell.verdict !== 'pass').map((cell) => `${cell.agent}|${cell.row}: ${cell.verdict}`),
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
}

/** `reachgate baseline accept` on the workstation over a matrix of every row passing: the first baseline, no drift. */
async function acceptBaseline(t: Test, coordinator: Coordinator): Promise<void> {
  const accepted = await coordinator.acceptBaseline();
  t.match(accepted, { code: 0, json: { cells: ROWS.length, agents: 4, rows: ROWS.length, seq: 1, previous: null } });
  t.equal((await coordinator.matrixApi()).drift_count, 0, 'no drift right after accepting');
}

/** The viewer's matrix and the CLI's after the drifted report: the viewer row alone fails and drifted. */
async function expectDrift(t: Test, coordinator: Coordinator): Promise<void> {
  const matrix = await coordinator.matrixApi();
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

  const cli = await coordinator.matrixCli();
  t.equal(cli.code, 1, 'reachgate matrix: exit 1 on a failed, drifted cell');
  t.match(cellOf(cli.matrix, NAMES.workstation, 'viewer'), { verdict: 'fail', drift: true, baseline: 'pass' });
}

/**
 * Four agents, a viewer and a coordinator on `store` (files in `dir`): delivery, the coordinator killed
 * and restarted, a baseline and drift. The coordinator is stopped when `t` ends. Returns the report ids by step.
 */
async function fleet(
  t: Test,
  lab: SiteLab,
  cert: { certFile: string; keyFile: string },
  dir: string,
  store: FleetStore,
): Promise<FleetSteps> {
  const site = join(dir, 'site.yaml');
  writeFileSync(site, siteFile());
  const coordinator = await coordinatorOn(t, lab, cert, dir, store);

  const agents = new Map<Role, FleetAgent>();
  for (const role of ROLES) {
    const name = NAMES[role];
    const token = await coordinator.tokenFile(name, { kind: 'agent', agent: name, role });
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

  const steps: FleetSteps = {
    produced: new Map<string, string[]>(ROLES.map((role) => [NAMES[role], []])),
    first: new Map(),
    waiting: new Map(),
    after: new Map(),
    dnsLast: '',
    drifted: '',
  };
  const { produced } = steps;
  const record = (role: Role, run: CliRun): string => {
    const id = spooledId(run);
    produced.get(NAMES[role])!.push(id);
    return id;
  };

  await coordinator.start();

  await t.test(
    "four agents on their own hosts deliver over HTTPS; the viewer's matrix has every agent and row, all passing",
    async (t) => {
      const runs = await runFleet();
      for (const [role, run] of runs) {
        const id = record(role, run);
        steps.first.set(role, id);
        t.equal(run.code, 0, `${role}: exit 0, delivered`);
        t.same(spooled(role), [], `${role}: the spool is empty`);
        t.match(
          logged(run, 'report delivered'),
          [{ report_id: id, status: 201 }],
          `${role}: its report acknowledged as stored`,
        );
      }

      const matrix = await coordinator.matrixApi();
      expectAllPassing(t, matrix, steps.first);

      const cli = await coordinator.matrixCli();
      t.equal(cli.code, 0, 'reachgate matrix: exit 0, everything passes');
      t.same(
        cli.matrix.cells.map((cell) => `${cell.agent}|${cell.row}|${cell.verdict}`),
        matrix.cells.map((cell) => `${cell.agent}|${cell.row}|${cell.verdict}`),
        "the CLI shows the API's matrix",
      );
    },
  );

  await t.test(
    'with the coordinator killed the agents keep their reports and exit 1; after a restart on the same database each arrives once',
    async (t) => {
      await coordinator.kill();
      const down = await runFleet();
      const { waiting } = steps;
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

      await coordinator.start();
      const up = await runFleet();
      for (const [role, run] of up) {
        const id = record(role, run);
        steps.after.set(role, id);
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
      steps.dnsLast = fresh;
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

      await expectNewest(t, coordinator, steps);
    },
  );

  await t.test(
    'after a baseline is accepted, losing the 5900 rule shows as drift on the viewer row alone',
    async (t) => {
      await acceptBaseline(t, coordinator);

      await lab.route({ coordinator: PORT, viewer: false });
      t.teardown(() => lab.route({ coordinator: PORT }));
      const run = await runAgent('workstation', 'process');
      steps.drifted = record('workstation', run);
      t.equal(run.code, 0, "delivered: the agent's exit code is about delivery, not verdicts");
      await expectDrift(t, coordinator);
    },
  );
  return steps;
}

/** After the restart: a report spooled while the coordinator was down reads back, and the matrix is at each agent's newest. */
async function expectNewest(t: Test, coordinator: Coordinator, steps: FleetSteps): Promise<void> {
  const report = await coordinator.viewer('GET', `/api/v1/reports/${steps.waiting.get('workstation')}`);
  t.match(
    report,
    {
      status: 200,
      body: { id: steps.waiting.get('workstation'), report: { agent: NAMES.workstation, role: 'workstation' } },
    },
    'a report spooled while the coordinator was down can be read back',
  );
  const matrix = await coordinator.matrixApi();
  t.same(
    matrix.agents.map((agent) => [agent.name, agent.report_id]).sort(),
    ROLES.map((role) => [NAMES[role], steps.produced.get(NAMES[role])!.at(-1)]).sort(),
    "the matrix shows each agent's newest report",
  );
  t.equal(matrix.summary.pass, ROWS.length);
}

/**
 * The reports of a fleet run delivered again, step by step, to a coordinator on `store` (files in `dir`), each by
 * its agent's token: what the store keeps and answers (each report once and in order across a restart, a retry
 * acknowledged as stored, a report read back, the matrix, a baseline and drift) on another database, without the
 * agents' probing, spooling and delivery, which the fleet run proved and which do not depend on the store.
 */
async function replay(
  t: Test,
  lab: SiteLab,
  cert: { certFile: string; keyFile: string },
  dir: string,
  store: FleetStore,
  reports: FleetReports,
): Promise<void> {
  const coordinator = await coordinatorOn(t, lab, cert, dir, store);
  const tokens = new Map<Role, string>();
  for (const role of ROLES)
    tokens.set(role, await coordinator.tokenFile(NAMES[role], { kind: 'agent', agent: NAMES[role], role }));
  const reportsDir = join(dir, 'reports');
  mkdirSync(reportsDir);
  /** POST each report (role, id) as its agent, in this order; the statuses. */
  const deliver = async (list: Array<[Role, string]>): Promise<number[]> => {
    const calls = list.map(([role, id]) => {
      const json = reports.json.get(id);
      if (json === undefined) throw new Error(`the fleet run stored no report ${id}`);
      const bodyFile = join(reportsDir, `${id}.json`);
      writeFileSync(bodyFile, json);
      return { method: 'POST' as const, path: '/api/v1/reports', tokenFile: tokens.get(role)!, bodyFile };
    });
    return (await coordinator.calls(calls)).map((answer) => answer.status);
  };
  const each = (step: Map<Role, string>): Array<[Role, string]> => ROLES.map((role) => [role, step.get(role)!]);
  const created = ROLES.map(() => 201);

  await coordinator.start();

  t.test("each agent's first report is stored; the viewer's matrix has every agent and row, all passing", async (t) => {
    t.same(await deliver(each(reports.first)), created, 'each acknowledged as stored (201)');
    const matrix = await coordinator.matrixApi();
    expectAllPassing(t, matrix, reports.first);
    const cli = await coordinator.matrixCli();
    t.equal(cli.code, 0, 'reachgate matrix: exit 0, everything passes');
    t.same(
      cli.matrix.cells.map((cell) => `${cell.agent}|${cell.row}|${cell.verdict}`),
      matrix.cells.map((cell) => `${cell.agent}|${cell.row}|${cell.verdict}`),
      "the CLI shows the API's matrix",
    );
  });

  t.test('after a restart on the same database each report is stored once, in order, a retry included', async (t) => {
    await coordinator.kill();
    await coordinator.start();
    const later = ROLES.flatMap((role): Array<[Role, string]> => [
      [role, reports.waiting.get(role)!],
      [role, reports.after.get(role)!],
    ]);
    t.same(await deliver(later), [...created, ...created], 'the older report, then the newer, each stored');
    t.same(
      await deliver([
        ['dns', reports.waiting.get('dns')!],
        ['dns', reports.dnsLast],
      ]),
      [200, 201],
      'the retried report is acknowledged as already stored (200), the next one stored',
    );
    const stored = await store.storedIds();
    const delivered = new Map(
      [...reports.produced].map(([name, ids]) => [name, ids.filter((id) => id !== reports.drifted)]),
    );
    for (const [name, ids] of delivered)
      t.same(stored.get(name), ids, `${name}: every report delivered is stored, once, in order`);
    await expectNewest(t, coordinator, { ...reports, produced: delivered });
  });

  t.test(
    'after a baseline is accepted, the report without the 5900 rule shows as drift on the viewer row alone',
    async (t) => {
      await acceptBaseline(t, coordinator);
      t.same(await deliver([['workstation', reports.drifted]]), [201]);
      await expectDrift(t, coordinator);
    },
  );
}
