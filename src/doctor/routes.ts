import { execFile } from 'node:child_process';
import { resolveHost } from '../net/resolve.js';
import type { Site } from '../profile/site.js';
import { skipped, type Finding } from './finding.js';

const CHECK = 'route';
const IP_TIMEOUT_MS = 5_000;

/** What `ip -j route get` says about one address. */
interface RouteAnswer {
  type?: string;
  dst: string;
  gateway?: string;
  dev?: string;
  prefsrc?: string;
  flags?: string[];
}

/** The kernel's route and source address toward each address of the site's hosts; asks the kernel, sends nothing. */
export async function checkRoutes(site: Site, resolveTimeoutMs: number): Promise<Finding[]> {
  const findings: Finding[] = [];
  const seen = new Set<string>();
  for (const [variable, hosts] of Object.entries(site.hosts)) {
    for (const host of hosts) {
      const subject = `${variable} ${host}`;
      const resolution = await resolveHost(host, resolveTimeoutMs);
      if ('error' in resolution) {
        findings.push({
          check: CHECK,
          subject,
          status: 'fail',
          message: `${resolution.error}: every probe of ${variable} will say unresolved`,
          fix: `fix the name in DNS (see the resolvers finding), or put its address in the site file under hosts.${variable}`,
        });
        continue;
      }
      for (const address of resolution.addresses) {
        if (seen.has(`${subject} ${address}`)) continue;
        seen.add(`${subject} ${address}`);
        const finding = await routeFinding(address, host === address ? subject : `${subject} (${address})`);
        findings.push(finding);
        // Without ip(8) no other address can be checked either.
        if (finding.status === 'skip') return findings;
      }
    }
  }
  return findings;
}

async function routeFinding(address: string, subject: string): Promise<Finding> {
  const answer = await ipRouteGet(address);
  if ('missing' in answer) {
    return skipped(
      CHECK,
      "iproute2's ip command is not installed: routes not checked",
      "apt-get install iproute2 (or your distribution's iproute2 package)",
      subject,
    );
  }
  if ('error' in answer) {
    return {
      check: CHECK,
      subject,
      status: 'fail',
      message: `no route toward ${address}: ${explainRouteError(answer.error)}`,
      fix: `find the route or rule that covers ${address}: ip route get ${address}; ip route show table all; ip rule`,
      evidence: { address, kernel: answer.error },
    };
  }
  const route = answer.route;
  const evidence = {
    address,
    type: route.type ?? 'unicast',
    gateway: route.gateway,
    dev: route.dev,
    source: route.prefsrc,
  };
  const path =
    route.type === 'local'
      ? `is this host's own address (dev ${route.dev})`
      : `${route.gateway ? `via ${route.gateway} ` : 'directly '}dev ${route.dev}, source ${route.prefsrc ?? 'chosen by the kernel'}`;
  if (route.flags?.includes('linkdown')) {
    return {
      check: CHECK,
      subject,
      status: 'warn',
      message: `${address} ${path}, but the link of ${route.dev} is down`,
      fix: `bring ${route.dev} up (ip link set ${route.dev} up) or check its cable or peer`,
      evidence,
    };
  }
  return { check: CHECK, subject, status: 'ok', message: `${address} ${path}`, evidence };
}

/** The kernel's route toward an address, its error, or that ip(8) is missing. */
function ipRouteGet(address: string): Promise<{ route: RouteAnswer } | { error: string } | { missing: true }> {
  return new Promise((resolve) => {
    execFile(
      'ip',
      ['-j', 'route', 'get', address],
      { timeout: IP_TIMEOUT_MS, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT') return resolve({ missing: true });
        if (error) return resolve({ error: stderr.trim().replace(/^RTNETLINK answers: /, '') || error.message });
        try {
          const [route] = JSON.parse(stdout) as RouteAnswer[];
          resolve(route ? { route } : { error: 'ip printed no route' });
        } catch {
          resolve({ error: `ip printed no JSON: ${stdout.trim().slice(0, 200)}` });
        }
      },
    );
  });
}

/** The kernel's lookup error in words: each error comes from a route type (or an ip rule of that action). */
function explainRouteError(error: string): string {
  if (/Network is unreachable/i.test(error)) return 'the routing table has no route for it (no default route?)';
  if (/No route to host/i.test(error)) return 'an `unreachable` route covers it';
  if (/Permission denied/i.test(error)) return 'a `prohibit` route covers it';
  if (/Invalid argument/i.test(error))
    return 'a `blackhole` route covers it (the kernel drops what is sent there), or the address cannot be routed';
  return `the kernel says: ${error}`;
}
