import { resolveHost } from '../net/resolve.js';
import { explainRouteError, ipRouteGet } from '../net/route-get.js';
import type { Site } from '../profile/site.js';
import { skipped, type Finding } from './finding.js';

const CHECK = 'route';

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
