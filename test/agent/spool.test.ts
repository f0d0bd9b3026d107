import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunReport } from '../../src/core/result.js';
import { Spool, type AgentLog } from '../../src/agent/spool.js';
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
  t.same(readdirSync(dir), []);
  t.match(log.lines, [{ level: 'warn', msg: /unfinished spool write/ }]);
});
