import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunReport } from '../../src/core/result.js';
import { LOCK_FILE, Spool, SpoolLockedError, type AgentLog } from '../../src/agent/spool.js';
import type { SpoolLimit } from '../../src/agent/config.js';

/** A log that keeps its lines for the test to read. */
function memoryLog(): AgentLog & { lines: Array<{ level: string; fields: Record<string, unknown>; msg: string }> } {
  const lines: Array<{ level: string; fields: Record<string, unknown>; msg: string }> = [];
  const at = (level: string) => (fields: unknown, msg?: unknown) => {
    lines.push({ level, fields: fields as Record<string, unknown>, msg: String(msg) });
  };
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  } as unknown as AgentLog & { lines: typeof lines };
}

function report(id: string, results = 0): RunReport {
  return {
    id,
    agent: 'ws-01',
    role: 'workstation',
    site: 'lab',
    profile: null,
    version: '0.1.0',
    started_at: '2026-11-26T12:00:00.000Z',
    finished_at: '2026-11-26T12:00:01.000Z',
    results: Array.from({ length: results }, (_, i) => ({
      id: `r${i}`,
      kind: 'tcp',
      target: { host: 'h', address: '127.0.0.1', port: i, protocol: 'tcp' as const },
      expect: 'reachable' as const,
      state: 'open' as const,
      verdict: 'pass' as const,
      reason: 'x'.repeat(100),
      attempts: 1,
      started_at: '2026-11-26T12:00:00.000Z',
    })),
    summary: { pass: results, fail: 0, inconclusive: 0, error: 0 },
  };
}

function openSpool(t: { teardown(fn: () => void): void }, limit: SpoolLimit = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-spool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = memoryLog();
  const spool = new Spool(join(dir, 'spool'), limit, log);
  spool.open();
  return { spool, log, dir: join(dir, 'spool') };
}

t.test('reports are read back oldest first, whole, and leave no temporary file', async (t) => {
  const { spool, dir } = openSpool(t);
  for (const id of ['first', 'second', 'third']) spool.add(report(id));
  const entries = spool.entries();
  t.same(
    entries.map((entry) => spool.read(entry)?.report.id),
    ['first', 'second', 'third'],
  );
  t.same(
    readdirSync(dir).filter((name) => name.endsWith('.tmp')),
    [],
  );
  spool.remove(entries[0]!);
  t.equal(spool.entries().length, 2);
});

t.test('a truncated spool file is moved aside with a log line, never returned', async (t) => {
  const { spool, log } = openSpool(t);
  const truncated = spool.add(report('truncated', 20));
  spool.add(report('whole'));
  truncateSync(truncated.path, 200);
  const [first, second] = spool.entries();
  t.equal(spool.read(first!), null);
  t.equal(spool.read(second!)?.report.id, 'whole');
  t.ok(existsSync(`${truncated.path}.corrupt`), 'kept for a human as *.corrupt');
  t.same(
    spool.entries().map((entry) => entry.name),
    [second!.name],
    'no longer queued',
  );
  t.match(log.lines, [
    { level: 'error', msg: /not a whole report/, fields: { file: truncated.path, why: /not valid JSON/ } },
  ]);
});

t.test('a file that is JSON but not a report is set aside too', async (t) => {
  const { spool } = openSpool(t);
  const entry = spool.add(report('x'));
  writeFileSync(entry.path, '{"hello":"world"}');
  t.equal(spool.read(spool.entries()[0]!), null);
  t.ok(existsSync(`${entry.path}.corrupt`));
});

t.test('a full spool drops the oldest report with a warning, by count', async (t) => {
  const { spool, log } = openSpool(t, { count: 2 });
  for (const id of ['a', 'b', 'c', 'd']) spool.add(report(id));
  t.same(
    spool.entries().map((entry) => spool.read(entry)?.report.id),
    ['c', 'd'],
  );
  const warnings = log.lines.filter((line) => line.level === 'warn');
  t.equal(warnings.length, 2);
  t.match(warnings[0], { msg: /spool full: dropped the oldest/, fields: { report_id: 'a', spooled: 2 } });
});

t.test('a full spool drops the oldest report with a warning, by size; the newest is always kept', async (t) => {
  const one = JSON.stringify(report('size-probe', 10)).length;
  const { spool, log } = openSpool(t, { bytes: Math.floor(one * 2.5) });
  for (const id of ['a', 'b', 'c']) spool.add(report(id, 10));
  t.same(
    spool.entries().map((entry) => spool.read(entry)?.report.id),
    ['b', 'c'],
  );
  spool.add(report('huge', 200));
  t.same(
    spool.entries().map((entry) => spool.read(entry)?.report.id),
    ['huge'],
    'a report larger than the bound replaces the rest',
  );
  t.equal(log.lines.filter((line) => line.level === 'warn').length, 3);
});

t.test('an unfinished write from a crash is cleaned up when the spool opens', async (t) => {
  const { spool, log, dir } = openSpool(t);
  writeFileSync(join(dir, '.001795734375923-000001-x.json.tmp'), '{"id":');
  spool.open();
  t.same(readdirSync(dir), [LOCK_FILE], 'only the lock is left');
  t.match(log.lines, [{ level: 'warn', msg: /unfinished spool write/ }]);
});

t.test('set-aside files count toward the bound and are rotated oldest first with a warning', async (t) => {
  const { spool, log, dir } = openSpool(t, { count: 3 });
  const refused = spool.add(report('refused'));
  const corrupt = spool.add(report('corrupt'));
  spool.setAside(refused, 'rejected', 'HTTP 422 invalid_report: test');
  spool.setAside(corrupt, 'corrupt', 'test');
  spool.add(report('a'));
  t.same(readdirSync(dir).filter((name) => name !== LOCK_FILE).length, 3, 'two set aside and one queued: at the bound');
  spool.add(report('b'));
  t.notOk(existsSync(`${refused.path}.rejected`), 'the oldest set-aside file went first');
  t.ok(existsSync(`${corrupt.path}.corrupt`));
  t.match(log.lines.at(-1), {
    level: 'warn',
    msg: 'spool full: removed the oldest set-aside (rejected) report',
    fields: { report_id: 'refused', spooled: 3 },
  });
  spool.add(report('c'));
  t.same(
    spool.setAsideEntries().map((entry) => entry.name),
    [],
    'then the next oldest, set aside or not',
  );
  t.same(
    spool.entries().map((entry) => spool.read(entry)?.report.id),
    ['a', 'b', 'c'],
  );
});

/** A process that lives until the test ends: a live PID that is not this test's. */
function livePid(t: { teardown(fn: () => void): void }): number {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  return child.pid!;
}

t.test('a spool another live process has locked is refused, naming that PID', async (t) => {
  const { spool, dir } = openSpool(t);
  spool.close();
  const other = livePid(t);
  writeFileSync(join(dir, LOCK_FILE), `${other}\n`);
  const second = new Spool(dir, {}, memoryLog());
  t.throws(() => second.open(), new SpoolLockedError(dir, other));
  t.throws(() => second.open(), {
    message: new RegExp(`another agent \\(PID ${other}\\) is using the spool directory`),
  });
  t.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), `${other}\n`, 'the holder keeps its lock');
  t.same(readdirSync(dir), [LOCK_FILE], 'no trace of the attempt');
});

t.test('a lock left by a dead agent is taken over with a warning, and released on close', async (t) => {
  const { spool, dir } = openSpool(t);
  spool.close();
  t.same(readdirSync(dir), [], 'close releases the lock');
  const gone = spawnSync('true').pid!;
  writeFileSync(join(dir, LOCK_FILE), `${gone}\n`);
  const log = memoryLog();
  const next = new Spool(dir, {}, log);
  next.open();
  t.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), `${process.pid}\n`);
  t.match(log.lines, [{ level: 'warn', msg: /stale spool lock/, fields: { pid: gone } }]);
  const third = new Spool(dir, {}, memoryLog());
  writeFileSync(join(dir, LOCK_FILE), 'garbage');
  third.open();
  t.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), `${process.pid}\n`, 'a lock naming no PID is stale too');
  third.close();
  t.same(readdirSync(dir), []);
});
