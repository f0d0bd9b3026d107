import t from 'tap';
import { existsSync, readFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { reachgate } from '../helpers/cli.js';
import { agentFiles, agentOnce, FakeCoordinator, freePort, idOf, logLines } from './fleet.js';

// The agent's behaviour, run in this process (the last test runs the CLI itself: its stdout, stderr and --log-level).
const once = (config: string) => agentOnce(config);

t.test(
  'reports spool while the coordinator is down; once it is back all are delivered oldest first and deleted after the ack',
  async (t) => {
    const port = await freePort();
    const agent = await agentFiles(t, port);
    for (const round of [1, 2]) {
      const run = await once(agent.config);
      t.equal(run.code, 1, `run ${round}: some reports are still spooled`);
      t.equal(agent.spooled().length, round);
      t.match(logLines(run.stderr), [
        { msg: 'agent started' },
        { msg: /report spooled/ },
        { level: 40, msg: /delivery failed/, why: /ECONNREFUSED/ },
        { level: 40, msg: /still spooled/ },
      ]);
    }
    const waiting = agent.spooled().map(idOf);
    const coordinator = await FakeCoordinator.start(t, port);
    const run = await once(agent.config);
    t.equal(run.code, 0, 'everything delivered');
    t.same(agent.all(), [], 'each report deleted after its acknowledgement');
    const ids = coordinator.posted.map((report) => report.id);
    t.same(ids.slice(0, 2), waiting, 'the older reports go first, in the order they were written');
    t.equal(ids.length, 3);
    t.same([...coordinator.stored.keys()], ids, 'each stored once');
    const newest = coordinator.posted[2]!;
    t.match(newest, { agent: 'ws-01', role: 'workstation', interval_s: 1, authorization: `Bearer ${agent.token}` });
    t.same(
      newest.results.map((result) => [result.row, result.state, result.verdict]),
      [
        ['viewer', 'open', 'pass'],
        ['no-direct-internet', 'closed', 'pass'],
      ],
    );
    t.equal(logLines(run.stderr).filter((line) => line.msg === 'report delivered').length, 3);
  },
);

t.test('a coordinator that answers 500 or never answers loses no report', async (t) => {
  const coordinator = await FakeCoordinator.start(t);
  const agent = await agentFiles(t, coordinator.port, { 'delivery-timeout': '1s' });
  coordinator.mode = 'fail';
  const failed = await once(agent.config);
  t.equal(failed.code, 1);
  t.equal(agent.spooled().length, 1, 'kept after a 500');
  t.match(logLines(failed.stderr), [{}, {}, { level: 40, status: 500, why: /HTTP 500: .*database is locked/ }]);

  coordinator.mode = 'hang';
  const started = Date.now();
  const hung = await once(agent.config);
  t.equal(hung.code, 1);
  t.ok(Date.now() - started < 20_000, 'the delivery deadline ends the wait');
  t.equal(agent.spooled().length, 2, 'kept after a timeout');
  t.match(
    logLines(hung.stderr).find((line) => line.level === 40),
    { why: /no answer from .* within 1000 ms/ },
  );

  coordinator.mode = 'store';
  const spooled = agent.spooled().map(idOf);
  const delivered = await once(agent.config);
  t.equal(delivered.code, 0);
  t.same(agent.all(), []);
  t.equal(coordinator.stored.size, 3);
  for (const id of spooled) t.ok(coordinator.stored.has(id), `report ${id} arrived`);
});

t.test('a report the coordinator refuses for good (422) is set aside and the rest still go', async (t) => {
  const coordinator = await FakeCoordinator.start(t);
  const agent = await agentFiles(t, coordinator.port);
  coordinator.mode = 'refuse';
  const refused = await once(agent.config);
  t.equal(refused.code, 0, 'nothing left waiting');
  const aside = agent.all();
  t.equal(aside.length, 1);
  t.match(aside[0], /\.json\.rejected$/, 'kept for a human, out of the queue');
  t.match(
    logLines(refused.stderr).find((line) => line.level === 50),
    { msg: /refuses this report for good/, why: /HTTP 422/ },
  );
  coordinator.mode = 'store';
  t.equal((await once(agent.config)).code, 0);
  t.equal(coordinator.stored.size, 1, 'only the new report is sent; the refused one is not retried');
});

t.test('a truncated spool file is moved aside with a log line, never sent, and the agent goes on', async (t) => {
  const port = await freePort();
  const agent = await agentFiles(t, port);
  t.equal((await once(agent.config)).code, 1);
  const [file] = agent.spooled();
  const path = join(agent.spool, file!);
  truncateSync(path, Math.floor(readFileSync(path).length / 2));
  const coordinator = await FakeCoordinator.start(t, port);
  const run = await once(agent.config);
  t.equal(run.code, 0);
  t.ok(existsSync(`${path}.corrupt`), 'moved aside as *.corrupt');
  t.same(agent.spooled(), []);
  t.equal(coordinator.posted.length, 1, 'only the whole report was sent');
  t.not(coordinator.posted[0]!.id, idOf(file!));
  t.match(
    logLines(run.stderr).find((line) => line.level === 50),
    { msg: /not a whole report/, file: path, why: /not valid JSON/ },
  );
});

t.test('a full spool drops the oldest report with a warning', async (t) => {
  const port = await freePort();
  const agent = await agentFiles(t, port, { 'spool-max': 2 });
  const ids: string[] = [];
  let last = '';
  for (let round = 0; round < 3; round++) {
    const before = new Set(agent.spooled());
    const run = await once(agent.config);
    t.equal(run.code, 1);
    last = run.stderr;
    ids.push(
      ...agent
        .spooled()
        .filter((name) => !before.has(name))
        .map(idOf),
    );
  }
  t.same(agent.spooled().map(idOf), ids.slice(1), 'the newest two are kept');
  t.match(
    logLines(last).find((line) => line.msg.startsWith('spool full')),
    { level: 40, msg: 'spool full: dropped the oldest undelivered report', report_id: ids[0], spooled: 2 },
  );
});

t.test("the agent's log lines are JSON on stderr and --log-level quiets them; stdout stays empty", async (t) => {
  const coordinator = await FakeCoordinator.start(t);
  const agent = await agentFiles(t, coordinator.port);
  const quiet = await reachgate(['agent', '--config', agent.config, '--once', '--log-level', 'warn']);
  t.equal(quiet.code, 0);
  t.equal(quiet.stdout, '');
  t.equal(quiet.stderr, '', 'nothing at warn or above when all goes well');
  const chatty = await reachgate(['agent', '--config', agent.config, '--once', '--log-level', 'debug']);
  const lines = logLines(chatty.stderr);
  t.ok(lines.length >= 3);
  t.ok(
    lines.every((line) => typeof line.time === 'string' && line.agent === 'ws-01'),
    'every line is JSON with time and agent',
  );
});
