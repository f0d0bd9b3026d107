import { formatMs } from '../core/duration.js';
import { silenceReason } from '../core/observation.js';
import { resolveHost } from '../net/resolve.js';
import { failureObservation } from '../net/classify.js';
import { exchangeUdp } from '../net/udp-exchange.js';
import { describeTime, ntpCodec, ntpEvidence, offsetAndDelay, timeProblem } from '../net/ntp.js';
import type { Site } from '../profile/site.js';
import { skipped, type Finding } from './finding.js';

const CHECK = 'clock';
/**
 * Reports from many agents are put side by side by their timestamps, and the coordinator marks an agent stale
 * by them: a second of offset is already visible there.
 */
const MAX_OFFSET_MS = 1000;
const NTP_PORT = 123;
/** As the ntp probe: a lost datagram is asked again. */
const ATTEMPTS = 3;

/** This host's clock offset against the site's first NTP server: one NTP exchange, as the ntp probe makes it. */
export async function checkClock(site: Site, timeoutMs: number): Promise<Finding> {
  const host = site.hosts['ntp-servers']?.[0];
  if (host === undefined) {
    return skipped(
      CHECK,
      'the site names no ntp-servers: the clock offset was not measured',
      "name the site's NTP server under hosts.ntp-servers to have doctor measure the offset",
    );
  }
  const resolution = await resolveHost(host, timeoutMs);
  if ('error' in resolution) {
    return {
      check: CHECK,
      subject: host,
      status: 'fail',
      message: `the NTP server does not resolve: ${resolution.error}`,
      fix: "fix the name in DNS, or put the NTP server's address in the site file under hosts.ntp-servers",
    };
  }
  const address = resolution.addresses[0]!;
  const subject = host === address ? host : `${host} (${address})`;
  const outcome = await exchangeUdp({
    address,
    port: NTP_PORT,
    codec: ntpCodec(),
    attempts: ATTEMPTS,
    timeoutMs,
    signal: AbortSignal.timeout(timeoutMs),
    icmp: null,
  });
  // A RATE kiss does not end the exchange; if nothing else came, it is the answer.
  const reply = outcome.kind === 'reply' ? outcome.reply : outcome.kind === 'silent' ? outcome.lastReply : undefined;
  if (reply === undefined) {
    const failure =
      outcome.kind === 'failed'
        ? failureObservation(outcome, outcome.attempts, undefined, 'udp')
        : { state: 'filtered', reason: silenceReason(timeoutMs, outcome.attempts) };
    const evidence = { address, state: failure.state };
    return {
      check: CHECK,
      subject,
      status: 'fail',
      message: `the NTP server did not answer: ${failure.reason}`,
      fix: `check the path and the server: reachgate probe ntp ${address}`,
      evidence,
    };
  }
  const evidence = { address, state: 'open', ...ntpEvidence(reply) };
  const problem = timeProblem(reply);
  if (problem) {
    return {
      check: CHECK,
      subject,
      status: 'warn',
      message: `the NTP server answered, but ${problem}`,
      fix: 'the server has no good time to give: check its own sources (chronyc sources on it)',
      evidence,
    };
  }
  // RFC 5905's offset is the server's clock minus ours: positive when this host is behind.
  const { offsetMs } = offsetAndDelay(reply);
  if (Math.abs(offsetMs) > MAX_OFFSET_MS) {
    return {
      check: CHECK,
      subject,
      status: 'warn',
      message:
        `this host's clock is ${formatMs(Math.abs(offsetMs))} ${offsetMs > 0 ? 'behind' : 'ahead of'} ` +
        `the NTP server (more than ${formatMs(MAX_OFFSET_MS)})`,
      fix: `synchronize this host's clock with ${address}: e.g. \`server ${address} iburst\` in chrony.conf, or timedatectl set-ntp true`,
      evidence,
    };
  }
  const message = `this host's clock is within ${formatMs(MAX_OFFSET_MS)} of the NTP server: ${describeTime(reply)}`;
  return { check: CHECK, subject, status: 'ok', message, evidence };
}
