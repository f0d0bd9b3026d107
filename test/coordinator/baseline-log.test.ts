import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { reachgate } from '../helpers/cli.js';
import { call, makeReport, makeTokens, postReport, serveInProcess, tempDir } from './coordinator-process.js';

// `reachgate baseline accept` and `baseline log` against a real coordinator (served in this process, SQLite file): who
// accepted what, when and why; a link changed in the database behind the coordinator's back is named
// and the log exits 1.

t.test('baseline accept records who and why; baseline log verifies the chain and names a tampered link', async (t) => {
  const dir = tempDir(t);
  const db = join(dir, 'reachgate.db');
  const [agent, viewer] = await makeTokens(db, [
    { kind: 'agent', agent: 'ws-1', role: 'workstation' },
    { kind: 'viewer' },
  ]);
  const tokenFile = join(dir, 'viewer.token');
  writeFileSync(tokenFile, `${viewer}\n`, { mode: 0o600 });
  const coordinator = await serveInProcess(t, db);
  t.equal((await postReport(coordinator.url, agent, makeReport('ws-1', 'workstation'))).status, 201);
  const source = ['--coordinator', coordinator.url, '--token-file', tokenFile];

  const first = await reachgate(['baseline', 'accept', ...source, '--approver', 'A. Admin', '--change', 'CHG-1']);
  t.equal(first.code, 0, first.stderr);
  t.match(
    first.stdout,
    /accepted baseline link 1: 4 cells, digest [0-9a-f]{64}\n {2}by A\. Admin for CHG-1 at .*; the first link/,
  );
  // The second link through the API, as another viewer's tool would accept it.
  const second = await call(`${coordinator.url}/api/v1/baseline`, {
    token: viewer!,
    body: JSON.stringify({ approver: 'B. Admin', change: 'CHG-2' }),
  });
  t.match(second.json(), { seq: 2, approver: 'B. Admin', change: 'CHG-2', previous: /^[0-9a-f]{64}$/ });

  const log = await reachgate(['baseline', 'log', ...source]);
  t.equal(log.code, 0, log.stderr);
  t.match(
    log.stdout,
    /^1 {2}\S+ {2}A\. Admin {2}CHG-1 {2}4 cells {2}[0-9a-f]{16}\n2 {2}\S+ {2}B\. Admin {2}CHG-2 {2}4 cells/,
  );
  t.match(log.stdout, /chain verified: 2 links\n$/);

  const raw = new Database(db);
  raw.prepare("UPDATE baseline_links SET change_ref = 'CHG-9' WHERE seq = 1").run();
  raw.close();
  const broken = await reachgate(['baseline', 'log', ...source]);
  t.equal(broken.code, 1, 'a broken chain exits 1');
  t.match(broken.stdout, /BROKEN link 1 \([0-9a-f]{64}\): its digest does not match/);
  t.notMatch(broken.stdout, /chain verified/);
  await coordinator.stop();
});
