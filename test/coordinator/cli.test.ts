import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { tokenCommand } from '../../src/cli/token.js';
import { IN_PROCESS, reachgate, reachgateJson } from '../helpers/cli.js';
import { commandUsageError } from '../helpers/usage.js';
import { SqliteStore } from '../../src/coordinator/sqlite-store.js';
import {
  call,
  makeReport,
  makeTokens,
  postReport,
  serveInProcess,
  startCoordinator,
  tempDir,
} from './coordinator-process.js';

t.test('token create prints an agent token once on stdout and stores only its hash', async (t) => {
  const db = join(tempDir(t), 'reachgate.db');
  const run = await reachgate(['token', 'create', '--agent', 'ws-01', '--role', 'workstation', '--db', db]);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /^rg_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\n$/);
  const id = run.stdout.slice(3, 19);
  t.equal(
    run.stderr,
    `reachgate: token ${id} created for agent "ws-01" (role "workstation"); it is shown only this once, keep it now (the database holds only its hash)\n`,
  );
  const secret = run.stdout.trim().slice(20);
  const files = [db, `${db}-wal`]
    .filter((path) => existsSync(path))
    .map((path) => readFileSync(path).toString('latin1'))
    .join('');
  t.notMatch(files, secret);
  const viewer = await reachgate(['token', 'create', '--viewer', '--db', db], { via: IN_PROCESS });
  t.equal(viewer.code, 0, viewer.stderr);
  t.match(viewer.stderr, /created for a viewer/);
});

t.test('token list shows ids, kinds, agents and roles, never a secret', async (t) => {
  const db = join(tempDir(t), 'reachgate.db');
  const agent = (
    await reachgate(['token', 'create', '--agent', 'ws-01', '--role', 'workstation', '--db', db], { via: IN_PROCESS })
  ).stdout.trim();
  const viewer = (await reachgate(['token', 'create', '--viewer', '--db', db], { via: IN_PROCESS })).stdout.trim();
  const list = await reachgate(['token', 'list', '--db', db], { via: IN_PROCESS });
  t.equal(list.code, 0, list.stderr);
  const lines = list.stdout.trimEnd().split('\n');
  t.match(lines[0], /^ID\s+KIND\s+AGENT\s+ROLE\s+CREATED\s+REVOKED$/);
  t.match(lines[1], new RegExp(`^${agent.slice(3, 19)}\\s+agent\\s+ws-01\\s+workstation\\s+\\d{4}-\\S+\\s+-$`));
  t.match(lines[2], new RegExp(`^${viewer.slice(3, 19)}\\s+viewer\\s+-\\s+-\\s+\\d{4}-\\S+\\s+-$`));
  for (const token of [agent, viewer]) t.notMatch(list.stdout, token.slice(20));
  type TokenList = { tokens: Array<Record<string, unknown>> };
  const {
    json: { tokens },
  } = await reachgateJson<TokenList>(['token', 'list', '--json', '--db', db], { via: IN_PROCESS });
  t.same(
    tokens.map((token) => Object.keys(token).sort()),
    [0, 1].map(() => ['agent', 'created_at', 'id', 'kind', 'revoked_at', 'role']),
  );
});

t.test('token revoke marks a token revoked; an unknown id is a usage error', async (t) => {
  const db = join(tempDir(t), 'reachgate.db');
  const token = (await reachgate(['token', 'create', '--viewer', '--db', db], { via: IN_PROCESS })).stdout.trim();
  const id = token.slice(3, 19);
  const revoke = await reachgate(['token', 'revoke', id, '--db', db], { via: IN_PROCESS });
  t.equal(revoke.code, 0, revoke.stderr);
  t.match(revoke.stderr, `reachgate: token ${id} revoked`);
  const again = await reachgate(['token', 'revoke', id, '--db', db], { via: IN_PROCESS });
  t.equal(again.code, 0);
  t.match(again.stderr, `token ${id} was already revoked at `);
  t.match(
    (await reachgate(['token', 'list', '--db', db], { via: IN_PROCESS })).stdout,
    new RegExp(`${id}\\s+viewer\\s+-\\s+-\\s+\\S+\\s+\\d{4}-`),
  );
  const unknown = await reachgate(['token', 'revoke', '0123456789abcdef', '--db', db], { via: IN_PROCESS });
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, `reachgate: no token with id "0123456789abcdef" in ${db}`);
});

t.test('token usage errors say what to give', async (t) => {
  const dir = tempDir(t);
  const db = join(dir, 'reachgate.db');
  const cases: Array<[string[], RegExp]> = [
    [['token', 'create', '--viewer', '--agent', 'ws-01', '--db', db], /give either/],
    [['token', 'create', '--agent', 'ws-01', '--db', db], /an agent token needs both `--agent NAME` and `--role ROLE`/],
    [
      ['token', 'create', '--agent', '', '--role', 'workstation', '--db', db],
      /Not enough arguments following: agent|Expected `--agent` to be 1 to 128 printable characters/,
    ],
    [['token', 'list', '--db', join(dir, 'typo.db')], /no database at .*typo\.db/],
    [['token', 'revoke', 'abc', '--db', join(dir, 'typo.db')], /no database at .*typo\.db/],
  ];
  for (const [args, message] of cases) t.match(await commandUsageError(tokenCommand, args), message, args.join(' '));
  t.notOk(existsSync(join(dir, 'typo.db')), 'a typo in --db does not create an empty database for list or revoke');
  // As a user sees them: one refusal of the command's own checks, one of yargs (a misspelt action).
  const printed: Array<[string[], RegExp]> = [
    [['token', 'create', '--db', db], /give either `--agent NAME --role ROLE` \(an agent token\) or `--viewer`/],
    [['token', 'rotate', '--db', db], /Did you mean create\?/],
  ];
  for (const [args, message] of printed) {
    const run = await reachgate(args);
    t.equal(run.code, 2, args.join(' '));
    t.match(run.stderr, message, args.join(' '));
    t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
  }
});

// The checks of --listen, --retention-days and the TLS files are test/coordinator/serve.test.ts's, in-process; here
// a negative number through yargs to its check, a certificate only the TLS stack refuses, and yargs' own refusals,
// as a user sees them.
t.test('coordinator usage errors exit 2 before listening', async (t) => {
  const dir = tempDir(t);
  const db = join(dir, 'reachgate.db');
  writeFileSync(join(dir, 'bad.pem'), 'not a certificate\n');
  const cases: Array<[string[], RegExp]> = [
    [
      ['--listen', '127.0.0.1:0', '--retention-days', '-1'],
      /Expected `--retention-days` to be a whole number from 0 to 36500, got `-1`/,
    ],
    [
      ['--listen', '127.0.0.1:0', '--tls-cert', join(dir, 'bad.pem'), '--tls-key', join(dir, 'bad.pem')],
      /cannot serve HTTPS with --tls-cert/,
    ],
    [['--listen', '127.0.0.1:0', '--log-level', 'loud'], /Invalid values:[\s\S]*log-level/],
    [
      ['--listen', '127.0.0.1:0', '--confirm-window', '4'],
      /Expected `--confirm-window` to be a whole number from 5 to 3600, got `4`/,
    ],
  ];
  for (const [args, message] of cases) {
    // Refused by the option checks before a store is opened; the TLS case reaches the server's start, in a process.
    const tls = args.includes('--tls-cert');
    const run = await reachgate(['coordinator', '--db', db, ...args], tls ? {} : { via: IN_PROCESS });
    t.equal(run.code, 2, args.join(' '));
    t.match(run.stderr, message, args.join(' '));
  }
  const missing = await reachgate(['coordinator', '--listen', '127.0.0.1:0']);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /Missing required argument: db/);
});

t.test('a second coordinator on a port in use is a usage error', async (t) => {
  const dir = tempDir(t);
  // The first one served in this process: the port is what matters.
  const first = await serveInProcess(t, join(dir, 'a.db'));
  const port = new URL(first.url).port;
  const second = await reachgate(['coordinator', '--db', join(dir, 'b.db'), '--listen', `127.0.0.1:${port}`]);
  t.equal(second.code, 2);
  t.match(second.stderr, `reachgate: cannot listen on 127.0.0.1:${port}: the address is in use`);
  await first.stop();
});

t.test(
  "--retention-days deletes old reports at start-up and keeps each agent's latest; the log is whole at exit",
  async (t) => {
    const db = join(tempDir(t), 'reachgate.db');
    const [token, viewer] = (await makeTokens(db, [
      { kind: 'agent', agent: 'ws-01', role: 'workstation' },
      { kind: 'viewer' },
    ])) as [string, string];
    const store = SqliteStore.open(db);
    const old = [
      makeReport('ws-01', 'workstation'),
      makeReport('ws-01', 'workstation'),
      makeReport('tg-01', 'tightgate'),
    ];
    for (const report of old)
      await store.addReport(report, JSON.stringify(report), new Date(Date.now() - 10 * 86_400_000));
    await store.close();
    const coordinator = await startCoordinator(t, db, ['--retention-days', '7']);
    const status = async (id: string) =>
      (await call(`${coordinator.url}/api/v1/reports/${id}`, { token: viewer })).status;
    // Retention runs right after start-up; wait for its log line (bounded).
    for (let i = 0; i < 50 && !coordinator.logs.some((entry) => entry.msg === 'retention deleted old reports'); i++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    t.match(
      coordinator.logs.find((entry) => entry.msg === 'retention deleted old reports'),
      { deleted: 1 },
    );
    t.same([await status(old[0]!.id), await status(old[1]!.id), await status(old[2]!.id)], [404, 200, 200]);
    t.equal((await postReport(coordinator.url, token, makeReport('ws-01', 'workstation'))).status, 201);
    t.equal((await coordinator.stop()).code, 0);
    // The log is written asynchronously: the lines of the last request and of the shutdown still reach stderr.
    const stderr = coordinator.child.stderr!;
    if (!stderr.closed) await once(stderr, 'close');
    t.match(coordinator.logs.at(-2), { msg: 'request', method: 'POST', path: '/api/v1/reports', status: 201 });
    t.match(coordinator.logs.at(-1), { msg: 'coordinator stopping', signal: 'SIGTERM' });
  },
);
