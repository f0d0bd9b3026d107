import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { labUnavailable } from '../lab/lab.js';
import { enrol, reachgate, runFleet, startCoordinator, type DemoAgent, type Finished, type Place } from '../demo/fleet.js';

interface DemoArgs {
  once: boolean;
  port: number;
}

/** Add `reachgate demo [--once]`: the whole pipeline on a demo site built on this machine. */
export function demoCommand(parser: Argv): Argv {
  return parser.command<DemoArgs>(
    'demo',
    'Build a demo site on this machine, run an agent per role, and show the coordinator\'s matrix',
    (command) => command
      .option('once', { type: 'boolean', default: false, describe: 'Print the matrix and exit (for CI) instead of serving the HTML page until Ctrl-C' })
      .option('port', { type: 'number', default: 8580, describe: 'Loopback port of the HTML page', requiresArg: true })
      .example('sudo reachgate demo', 'namespaces shaped like the port table, real daemons, four agents, the matrix on http://127.0.0.1:8580/')
      .example('reachgate demo --once', 'without root: a loopback-only site; prints the matrix and exits'),
    async (argv) => {
      process.exitCode = await demo(argv);
    },
  );
}

/** What a demo site gives the pipeline: its agents, site file, and where its coordinator listens. */
interface DemoSite {
  what: string;
  agents: DemoAgent[];
  site: string;
  coordinatorPlace: Place;
  listen: string;
  /** Where `reachgate matrix` runs: it must reach the coordinator. */
  viewerPlace: Place;
  /** Relay the coordinator's page to host loopback, when it listens inside a namespace. */
  relay?: (url: string, port: number) => Promise<Server>;
  destroy(): Promise<void>;
}

async function demo(argv: DemoArgs): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-demo-'));
  const unavailable = labUnavailable();
  const say = (line: string): void => { process.stdout.write(`${line}\n`); };
  say(unavailable === null
    ? '# reachgate demo: a site shaped like the TightGate-Pro port table, in network namespaces, with real daemons'
    : `# reachgate demo: a loopback-only site (${unavailable}; as root the demo builds a whole site in network namespaces)`);
  const site = unavailable === null ? await namespaceSite(dir) : await loopbackSite(dir);
  let coordinator: Awaited<ReturnType<typeof startCoordinator>> | undefined;
  let page: Server | undefined;
  const stop = async (): Promise<void> => {
    page?.close();
    coordinator?.child.kill('SIGTERM');
    await site.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    coordinator = await startCoordinator(site.coordinatorPlace, join(dir, 'reachgate.db'), site.listen);
    say(`# coordinator at ${coordinator.url} (SQLite: ${join(dir, 'reachgate.db')})`);
    const { viewer, configs } = await enrol(dir, join(dir, 'reachgate.db'), site.agents, site.site, coordinator.url);
    say(`# ${site.agents.length} agents run their profiles and deliver: ${site.agents.map((agent) => `${agent.name} (${agent.profile})`).join(', ')}`);
    const failures = await runFleet(site.agents, configs);
    for (const failure of failures) say(`# agent ${failure}`);
    const matrix: Finished = await reachgate(site.viewerPlace, ['matrix', '--coordinator', coordinator.url, '--token-file', viewer, '--format', 'table']);
    process.stdout.write(matrix.stdout);
    if (matrix.stderr.trim()) process.stderr.write(matrix.stderr);
    if (argv.once) return failures.length === 0 ? (matrix.code ?? 1) : 1;
    page = site.relay ? await site.relay(coordinator.url, argv.port) : undefined;
    const base = page ? `http://127.0.0.1:${(page.address() as AddressInfo).port}` : coordinator.url;
    const token = (await import('node:fs')).readFileSync(viewer, 'utf8').trim();
    say(`\n# the matrix page: ${base}/?token=${token}\n# Ctrl-C stops the demo and removes everything it started`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    return 0;
  } finally {
    await stop();
  }
}

/** As root: the port-table site lab, an agent per role in its own namespace, the coordinator on the monitoring host. */
async function namespaceSite(dir: string): Promise<DemoSite> {
  const { SiteLab, SITE, siteFile } = await import('../lab/site-lab.js');
  const lab = await SiteLab.create();
  const port = 8080;
  await lab.route({ coordinator: port });
  const site = join(dir, 'site.yaml');
  writeFileSync(site, siteFile());
  const roles = ['workstation', 'tightgate', 'monitoring', 'dns'] as const;
  const names = { workstation: 'ws-01', tightgate: 'tg-01', monitoring: 'mon-01', dns: 'dns-01' };
  return {
    what: 'namespaces',
    agents: roles.map((role) => ({ name: names[role], role, profile: `tightgate/${role}`, place: lab.hosts[role] })),
    site,
    coordinatorPlace: lab.hosts.monitoring,
    listen: `${SITE.monitoring}:${port}`,
    viewerPlace: lab.hosts.workstation,
    relay: (url, localPort) => relay(lab.hosts.monitoring, url, join(dir, 'page.sock'), localPort),
    destroy: () => lab.destroy(),
  };
}

/**
 * The coordinator listens inside a namespace, which this host's browser cannot reach. A relay
 * inside the namespace listens on a Unix socket (the file system is shared), and a loopback
 * listener here pipes each connection to it: no interface or route is added to this host.
 */
async function relay(place: string, url: string, socketPath: string, port: number): Promise<Server> {
  const { hostname, port: target } = new URL(url);
  const script = `const net=require('node:net');net.createServer((c)=>{const u=net.connect(${Number(target)},${JSON.stringify(hostname)});c.pipe(u).pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy());}).listen(${JSON.stringify(socketPath)},()=>console.log('ready'));`;
  const { spawn } = await import('node:child_process');
  const child = spawn('ip', ['netns', 'exec', place, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the page relay exited (${code})`)));
  });
  const server = createServer((socket) => {
    const upstream = connect(socketPath);
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  server.on('close', () => child.kill('SIGTERM'));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

/** Without root: one workstation agent on loopback, a listener it must reach and a port it must not. */
async function loopbackSite(dir: string): Promise<DemoSite> {
  const viewer = createServer((socket) => socket.end('RFB 003.008\n'));
  const vacant = createServer();
  const listen = (server: Server): Promise<number> => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  const [open, closed] = await Promise.all([listen(viewer), listen(vacant)]);
  await new Promise((resolve) => vacant.close(resolve));
  const profile = join(dir, 'loopback.yaml');
  writeFileSync(profile, `profile: demo/loopback
role: workstation
description: The demo's loopback stand-in for the workstation profile.
probes:
  - row: viewer
    kind: tcp
    target: tightgate
    ports: ${open}
    options: { service: vnc }
  - row: tightgate-only-intended
    kind: tcp
    target: tightgate
    ports: "${closed}"
    expect: blocked
`);
  const site = join(dir, 'site.yaml');
  writeFileSync(site, 'site: demo-loopback\nhosts:\n  tightgate: [127.0.0.1]\n  internet-canaries: [127.0.0.2]\n');
  return {
    what: 'loopback',
    agents: [{ name: 'ws-01', role: 'workstation', profile, place: null }],
    site,
    coordinatorPlace: null,
    listen: '127.0.0.1:0',
    viewerPlace: null,
    destroy: async () => { viewer.close(); },
  };
}
