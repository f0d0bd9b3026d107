import t from 'tap';
import { spawn } from 'node:child_process';
import { BIN, type CliRun } from '../helpers/cli.js';
import { agentFiles, FakeCoordinator, logLines } from './fleet.js';

/** `reachgate agent --once` with an open-files limit of 200 (node raises a soft limit to the hard one): 136 sockets. */
function onceWithFewFiles(config: string): Promise<CliRun> {
  const command = ['--nofile=200', 'env', '-u', 'NODE_OPTIONS', process.execPath, BIN, 'agent', '--config', config, '--once'];
  return new Promise((resolve) => {
    const child = spawn('prlimit', command, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

t.test('a run warning (concurrency above the open-files limit) is a line of the agent\'s JSON log', async (t) => {
  const coordinator = await FakeCoordinator.start(t);
  const agent = await agentFiles(t, coordinator.port, { concurrency: 1000 });
  const run = await onceWithFewFiles(agent.config);
  t.equal(run.code, 0, run.stderr);
  const warning = logLines(run.stderr).find((line) => /open-files limit/.test(line.msg));
  t.match(warning, { level: 40, agent: 'ws-01', msg: /^--concurrency 1000 is above what the open-files limit allows; using 136 / });
  t.notMatch(run.stderr, /^reachgate: /m, 'nothing on stderr outside the log');
});
