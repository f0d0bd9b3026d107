import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labUnavailable } from '../lab/lab.js';
import { enrol, reachgate, runFleet, startCoordinator } from './fleet.js';
import { loopbackSite, namespaceSite } from './site.js';

/** How the demo runs: once (print the matrix and exit) or serving the page on a loopback port until stopped. */
export interface DemoOptions {
  once: boolean;
  port: number;
  /** Resolves when the operator stops the demo (without `once`). */
  untilStopped: () => Promise<void>;
}

/** Where the demo's words go: its own lines and the matrix command's stdout, and that command's stderr. */
export interface DemoOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Build a demo site, run an agent per role against a coordinator, show its matrix; returns the exit code. */
export async function runDemo(options: DemoOptions, output: DemoOutput): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-demo-'));
  const unavailable = labUnavailable();
  const say = (line: string): void => {
    output.stdout(`${line}\n`);
  };
  say(
    unavailable === null
      ? '# reachgate demo: a site shaped like the TightGate-Pro port table, in network namespaces, with real daemons'
      : `# reachgate demo: a loopback-only site (${unavailable}; ` +
          'as root the demo builds a whole site in network namespaces)',
  );
  const site = unavailable === null ? await namespaceSite(dir) : await loopbackSite(dir);
  let coordinator: Awaited<ReturnType<typeof startCoordinator>> | undefined;
  let page: Server | undefined;
  try {
    const db = join(dir, 'reachgate.db');
    coordinator = await startCoordinator(site.coordinatorPlace, db, site.listen);
    say(`# coordinator at ${coordinator.url} (SQLite: ${db})`);
    const { viewer, configs } = await enrol(dir, db, site.agents, site.site, coordinator.url);
    const roster = site.agents.map((agent) => `${agent.name} (${agent.profile})`).join(', ');
    say(`# ${site.agents.length} agents run their profiles and deliver: ${roster}`);
    const failures = await runFleet(site.agents, configs);
    for (const failure of failures) say(`# agent ${failure}`);
    const matrix = await reachgate(site.viewerPlace, [
      'matrix',
      '--coordinator',
      coordinator.url,
      '--token-file',
      viewer,
      '--format',
      'table',
    ]);
    output.stdout(matrix.stdout);
    if (matrix.stderr.trim()) output.stderr(matrix.stderr);
    if (options.once) return failures.length === 0 ? (matrix.code ?? 1) : 1;
    page = site.relay ? await site.relay(coordinator.url, options.port) : undefined;
    const base = page ? `http://127.0.0.1:${(page.address() as AddressInfo).port}` : coordinator.url;
    const token = readFileSync(viewer, 'utf8').trim();
    say(`\n# the matrix page: ${base}/?token=${token}\n# Ctrl-C stops the demo and removes everything it started`);
    await options.untilStopped();
    return 0;
  } finally {
    page?.close();
    coordinator?.child.kill('SIGTERM');
    await site.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
