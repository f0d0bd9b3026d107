import { formatMs } from '../core/duration.js';
import { resolveHost } from '../net/resolve.js';
import type { Site } from '../profile/site.js';
import ntp from '../../probes/ntp.js';
import type { Finding } from './finding.js';

const CHECK = 'clock';
/**
 * Reports from many agents are put side by side by their timestamps, and the coordinator marks an agent stale
 * by them: a second of offset is already visible there.
 */
const MAX_OFFSET_MS = 1000;

/** This host's clock offset against the site's first NTP server: one NTP exchange with the ntp probe's codec. */
export async function checkClock(site: Site, timeoutMs: number): Promise<Finding> {
  const host = site.hosts['ntp-servers']?.[0];
  if (host === undefined) {
    return { check: CHECK, status: 'skip', message: 'the site names no ntp-servers: the clock offset was not measured', fix: 'name the site\'s NTP server under hosts.ntp-servers to have doctor measure the offset' };
  }
  const resolution = await resolveHost(host, timeoutMs);
  if ('error' in resolution) {
    return { check: CHECK, subject: host, status: 'fail', message: `the NTP server does not resolve: ${resolution.error}`, fix: 'fix the name in DNS, or put the NTP server\'s address in the site file under hosts.ntp-servers' };
  }
  const address = resolution.addresses[0]!;
  const subject = host === address ? host : `${host} (${address})`;
  const observation = await ntp.observe(
    { id: 'doctor:clock', kind: 'ntp', target: { host, address, port: ntp.defaultPort ?? 123, protocol: 'udp' }, expect: 'reachable', options: {}, timeoutMs, attempts: ntp.defaultAttempts },
    { signal: AbortSignal.timeout(timeoutMs), icmp: null, icmpNote: undefined },
  );
  const evidence = { address, state: observation.state, ...observation.evidence };
  if (observation.state !== 'open') {
    return { check: CHECK, subject, status: 'fail', message: `the NTP server did not answer: ${observation.reason}`, fix: `check the path and the server: reachgate probe ntp ${address}`, evidence };
  }
  if (!observation.check?.ok) {
    return { check: CHECK, subject, status: 'warn', message: `the NTP server answered, but ${observation.check?.detail}`, fix: 'the server has no good time to give: check its own sources (chronyc sources on it)', evidence };
  }
  // RFC 5905's offset is the server's clock minus ours: positive when this host is behind.
  const offsetMs = Number(observation.evidence?.offset_ms);
  if (Math.abs(offsetMs) > MAX_OFFSET_MS) {
    return {
      check: CHECK,
      subject,
      status: 'warn',
      message: `this host's clock is ${formatMs(Math.abs(offsetMs))} ${offsetMs > 0 ? 'behind' : 'ahead of'} the NTP server (more than ${formatMs(MAX_OFFSET_MS)})`,
      fix: `synchronize this host's clock with ${address}: e.g. \`server ${address} iburst\` in chrony.conf, or timedatectl set-ntp true`,
      evidence,
    };
  }
  return { check: CHECK, subject, status: 'ok', message: `this host's clock is within ${formatMs(MAX_OFFSET_MS)} of the NTP server: ${observation.check.detail}`, evidence };
}
