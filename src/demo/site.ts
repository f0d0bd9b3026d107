import { writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import type { DemoAgent, Place } from './fleet.js';

/** What a demo site gives the pipeline: its agents, site file, and where its coordinator listens. */
export interface DemoSite {
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

/** As root: the port-table site lab, an agent per role in its own namespace, the coordinator on the monitoring host. */
export async function namespaceSite(dir: string): Promise<DemoSite> {
  const { SiteLab, SITE, siteFile } = await import('../lab/site-lab.js');
  const lab = await SiteLab.create();
  const port = 8080;
  await lab.route({ coordinator: port });
  const site = join(dir, 'site.yaml');
  writeFileSync(site, siteFile());
  const roles = ['workstation', 'tightgate', 'monitoring', 'dns'] as const;
  const names = { workstation: 'ws-01', tightgate: 'tg-01', monitoring: 'mon-01', dns: 'dns-01' };
  return {
    agents: roles.map((role) => ({ name: names[role], role, profile: `tightgate/${role}`, place: lab.hosts[role] })),
    site,
    coordinatorPlace: lab.hosts.monitoring,
    listen: `${SITE.monitoring}:${port}`,
    viewerPlace: lab.hosts.workstation,
    relay: (url, localPort) => relay(lab.hosts.monitoring, url, join(dir, 'page.sock'), localPort),
    destroy: () => lab.destroy(),
  };
}

/** The relay's side inside the namespace: a Unix socket listener that pipes each connection to the coordinator. */
function relayScript(hostname: string, port: number, socketPath: string): string {
  return [
    "const net=require('node:net');",
    'net.createServer((c)=>{',
    `const u=net.connect(${port},${JSON.stringify(hostname)});`,
    "c.pipe(u).pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy());",
    `}).listen(${JSON.stringify(socketPath)},()=>console.log('ready'));`,
  ].join('');
}

/**
 * The coordinator listens inside a namespace, which this host's browser cannot reach. A relay
 * inside the namespace listens on a Unix socket (the file system is shared), and a loopback
 * listener here pipes each connection to it: no interface or route is added to this host.
 */
async function relay(place: string, url: string, socketPath: string, port: number): Promise<Server> {
  const { hostname, port: target } = new URL(url);
  const script = relayScript(hostname, Number(target), socketPath);
  const { spawn } = await import('node:child_process');
  const child = spawn('ip', ['netns', 'exec', place, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
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

/** A loopback listener on a free port, and the port. */
function listenOnLoopback(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** Without root: one workstation agent on loopback, a listener it must reach and a port it must not. */
export async function loopbackSite(dir: string): Promise<DemoSite> {
  const viewer = createServer((socket) => socket.end('RFB 003.008\n'));
  const vacant = createServer();
  const [open, closed] = await Promise.all([listenOnLoopback(viewer), listenOnLoopback(vacant)]);
  await new Promise((resolve) => vacant.close(resolve));
  const profile = join(dir, 'loopback.yaml');
  writeFileSync(
    profile,
    `profile: demo/loopback
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
`,
  );
  const site = join(dir, 'site.yaml');
  writeFileSync(site, 'site: demo-loopback\nhosts:\n  tightgate: [127.0.0.1]\n  internet-canaries: [127.0.0.2]\n');
  return {
    agents: [{ name: 'ws-01', role: 'workstation', profile, place: null }],
    site,
    coordinatorPlace: null,
    listen: '127.0.0.1:0',
    viewerPlace: null,
    destroy: async () => {
      viewer.close();
    },
  };
}
