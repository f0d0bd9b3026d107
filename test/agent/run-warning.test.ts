import t from 'tap';
import pino from 'pino';
import { runCycle } from '../../src/agent/agent.js';
import { loadAgentConfig } from '../../src/agent/config.js';
import { Courier } from '../../src/agent/delivery.js';
import { Spool } from '../../src/agent/spool.js';
import { socketBudget } from '../../src/run/fd-limit.js';
import { agentFiles, freePort } from './fleet.js';

t.test("a run warning (concurrency above the open-files limit) is a line of the agent's log", async (t) => {
  const budget = socketBudget();
  t.ok(Number.isFinite(budget), 'the open-files limit is known (/proc/self/limits)');
  const agent = await agentFiles(t, await freePort());
  const { config, run } = await loadAgentConfig(agent.config);
  const lines: string[] = [];
  const log = pino(
    { base: null },
    {
      write: (line: string) => {
        lines.push(line);
      },
    },
  );
  const spool = new Spool(config.spoolDir, config.spoolLimit, log);
  spool.open();
  const courier = new Courier({ reportsUrl: config.reportsUrl, tokenFile: config.tokenFile, timeoutMs: 1000 });
  t.teardown(() => courier.close());
  const stderr: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    stderr.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    t.equal(await runCycle({ config: { ...config, concurrency: budget + 1 }, run, spool, courier, log }), true);
  } finally {
    process.stderr.write = write;
  }
  const warning = `--concurrency ${budget + 1} is above what the open-files limit allows; using ${budget} (raise it`;
  const logged = lines.map((line) => JSON.parse(line) as unknown);
  t.match(logged, [
    { level: 40, msg: warning },
    { level: 30, msg: /report spooled/ },
  ]);
  t.same(stderr, [], 'nothing on stderr outside the log');
});
