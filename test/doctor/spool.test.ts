import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentConfig } from '../../src/agent/config.js';
import { checkSpool } from '../../src/doctor/spool.js';

t.test('set-aside files count toward the nearly-full warning, as the agent counts them toward spool-max', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-doctor-spool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const spool = join(dir, 'spool');
  mkdirSync(spool);
  const now = Date.now();
  const name = (i: number) => `${String(now - 1000 * i).padStart(15, '0')}-00000${i}-r${i}.json`;
  const whole = JSON.stringify({ id: 'r', agent: 'ws-01', results: [] });
  writeFileSync(join(spool, name(1)), whole);
  const config = {
    file: join(dir, 'agent.yaml'),
    spoolDir: spool,
    spoolLimit: { count: 3 },
    intervalMs: 300_000,
  } as AgentConfig;
  t.match(checkSpool(config, now), { status: 'ok', evidence: { reports: 1 } });
  writeFileSync(join(spool, `${name(2)}.rejected`), whole);
  writeFileSync(join(spool, `${name(3)}.corrupt`), '{');
  t.match(checkSpool(config, now), {
    status: 'warn',
    message: /nearly full \(at most 3 files, set-aside files included\): the oldest are dropped next/,
    evidence: { reports: 1, rejected: [`${name(2)}.rejected`], corrupt: [`${name(3)}.corrupt`] },
  });
});
