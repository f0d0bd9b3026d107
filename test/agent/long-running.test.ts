import t from 'tap';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { BIN } from '../helpers/cli.js';
import { agentFiles, FakeCoordinator, freePort, idOf, logLines } from './fleet.js';

/** Wait until `ready()` holds, checking every 100 ms, for at most `ms`. */
async function until(ready: () => boolean, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline;) {
    if (ready()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return ready();
}

/** TCP ports a process listens on, from /proc: its socket inodes matched against the LISTEN rows. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // Closed while listing.
    }
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // st 0A is LISTEN; field 9 is the inode.
      if (fields[3] === '0A' && inodes.has(fields[9]!)) ports.push(parseInt(fields[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

t.test(
  'the long-running agent keeps its schedule while the coordinator is down, drains the spool with backoff once it is back, and listens on no port',
  async (t) => {
    const port = await freePort();
    const agent = await agentFiles(t, port);
    const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, BIN, 'agent', '--config', agent.config], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });

    t.ok(await until(() => agent.spooled().length >= 3, 15_000), 'a report per interval piles up in the spool');
    t.same(listeningPorts(child.pid!), [], 'no listening socket');
    const failures = logLines(stderr).filter((line) => line.msg.startsWith('the coordinator did not take'));
    t.ok(failures.length >= 2, 'deliveries were retried');
    const waits = failures.map((line) => line.retry_in_ms as number);
    t.ok(
      waits.every((wait) => wait >= 50 && wait <= 400),
      `backoff stays between half of retry-min and retry-max: ${waits.join(', ')}`,
    );

    const waiting = agent.spooled().map(idOf);
    const coordinator = await FakeCoordinator.start(t, port);
    t.ok(
      await until(() => waiting.every((id) => coordinator.stored.has(id)), 15_000),
      'every spooled report arrives once the coordinator is back',
    );
    const order = coordinator.posted.map((report) => report.id);
    t.same(order.slice(0, waiting.length), waiting, 'oldest first');
    t.equal(new Set(order).size, order.length, 'none sent twice');
    t.ok(await until(() => logLines(stderr).some((line) => line.msg.startsWith('delivery works again')), 5000));

    child.kill('SIGTERM');
    t.equal(await exited, 0, 'SIGTERM stops it cleanly');
    t.match(logLines(stderr).at(-1), { msg: 'agent stopped' });
    t.same(
      agent.all().filter((name) => !name.endsWith('.json')),
      [],
      'no temporary or set-aside files',
    );
  },
);
