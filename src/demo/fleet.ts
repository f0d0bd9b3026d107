import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createToken } from '../coordinator/tokens.js';
import { openStore } from '../coordinator/open-store.js';
import { finished, type Finished } from '../lab/finished.js';

/** The CLI launcher: the demo runs reachgate's own commands, as an operator would. */
export const BIN = fileURLToPath(new URL('../../../bin/reachgate', import.meta.url));

/** Where a command runs: this host, or inside a network namespace. */
export type Place = string | null;

function command(place: Place, args: string[]): [string, string[]] {
  const node = [process.execPath, BIN, ...args];
  return place === null ? [node[0]!, node.slice(1)] : ['ip', ['netns', 'exec', place, ...node]];
}

/** Run `reachgate ARGS` to the end (bounded), here or inside a namespace. */
export function reachgate(place: Place, args: string[], timeoutMs = 120_000): Promise<Finished> {
  const [file, argv] = command(place, args);
  return finished(spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] }), { timeoutMs });
}

/** Start the coordinator (here or in a namespace) and resolve with its process and URL once it listens. */
export function startCoordinator(
  place: Place,
  db: string,
  listen: string,
): Promise<{ child: ChildProcess; url: string }> {
  const [file, argv] = command(place, ['coordinator', '--db', db, '--listen', listen]);
  const child = spawn(file, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => fail(new Error(`the coordinator did not listen within 20 s: ${log}`)), 20_000);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    child.once('exit', (code) => fail(new Error(`the coordinator exited (${code}): ${log}`)));
    child.stderr!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      const url = /coordinator listening at (\S+?)"/.exec(log)?.[1];
      if (url) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, url });
      }
    });
  });
}

/** One agent of the demo fleet. */
export interface DemoAgent {
  name: string;
  role: string;
  profile: string;
  /** The namespace it runs in, or null for this host. */
  place: Place;
}

/** Write a token to a private file (mode 600, as `reachgate token create --out` does) and return the file. */
function tokenFile(dir: string, name: string, token: string): string {
  const file = join(dir, `${name}.token`);
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/**
 * Give each agent a token and a config; returns the viewer's token file and each agent's config file. The tokens
 * are made as `reachgate token create --db DB` makes them (createToken on the coordinator's store), in one opening
 * of the store rather than a CLI start per token.
 */
export async function enrol(
  dir: string,
  db: string,
  agents: DemoAgent[],
  site: string,
  coordinator: string,
): Promise<{ viewer: string; configs: Map<string, string> }> {
  const store = await openStore(db);
  try {
    const viewer = tokenFile(dir, 'viewer', (await createToken(store, { kind: 'viewer' })).token);
    const configs = new Map<string, string>();
    for (const agent of agents) {
      const grant = { kind: 'agent' as const, agent: agent.name, role: agent.role };
      const token = tokenFile(dir, agent.name, (await createToken(store, grant)).token);
      const home = join(dir, agent.name);
      mkdirSync(home, { recursive: true });
      const config = join(home, 'agent.yaml');
      writeFileSync(
        config,
        [
          `name: ${agent.name}`,
          `role: ${agent.role}`,
          `profile: ${agent.profile}`,
          `site: ${site}`,
          `coordinator: ${coordinator}`,
          `token-file: ${token}`,
          'interval: 5m',
          'spool: spool',
          '',
        ].join('\n'),
      );
      configs.set(agent.name, config);
    }
    return { viewer, configs };
  } finally {
    await store.close();
  }
}

/** Run every agent's `--once` cycle at the same time; returns the agents whose cycle failed, with why. */
export async function runFleet(agents: DemoAgent[], configs: Map<string, string>): Promise<string[]> {
  const runs = await Promise.all(
    agents.map(
      async (agent) =>
        [
          agent,
          await reachgate(agent.place, [
            'agent',
            '--config',
            configs.get(agent.name)!,
            '--once',
            '--log-level',
            'warn',
          ]),
        ] as const,
    ),
  );
  return runs
    .filter(([, run]) => run.code !== 0)
    .map(([agent, run]) => `${agent.name} (exit ${run.code}): ${run.stderr.trim().split('\n').slice(-2).join(' ')}`);
}
