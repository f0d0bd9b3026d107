import { readFileSync } from 'node:fs';
import { socketBudget } from '../run/fd-limit.js';
import { skipped, type Finding } from './finding.js';

const CHECK = 'open-files';

/** Whether the open-files limit lets `concurrency` probes be in flight at once (each holds a socket). */
export function checkOpenFiles(concurrency: number, source: string): Finding {
  const limits = openFilesLimits();
  if (limits === undefined) {
    return skipped(
      CHECK,
      'cannot read the open-files limit here (/proc/self/limits)',
      'run doctor on Linux with /proc mounted',
    );
  }
  const budget = socketBudget();
  const evidence = { soft: limits.soft, hard: limits.hard, sockets: budget, concurrency, concurrency_from: source };
  if (budget >= concurrency) {
    return {
      check: CHECK,
      status: 'ok',
      message: `open-files limit ${limits.soft} (hard ${limits.hard}): room for ${budget} sockets, enough for ${concurrency} probes at once (${source})`,
      evidence,
    };
  }
  const wanted = concurrency + (limits.soft - budget);
  // Node raises its soft limit to the hard limit at start-up: the hard limit is the one to raise.
  const raise =
    limits.hard >= wanted
      ? `ulimit -n ${wanted} in the shell that runs reachgate, or LimitNOFILE=${wanted} in its systemd unit`
      : `raise the hard limit to ${wanted}: LimitNOFILE=${wanted} in the systemd unit, ` +
        `ulimit -Hn ${wanted} (as root) before starting reachgate, or nofile in /etc/security/limits.conf; ` +
        `or lower the concurrency to ${budget}`;
  return {
    check: CHECK,
    status: 'warn',
    message: `open-files limit ${limits.soft} leaves room for ${budget} sockets: probes run ${budget} at a time, not ${concurrency} (${source})`,
    fix: raise,
    evidence,
  };
}

/** The soft and hard open-files limits of this process, from /proc/self/limits. */
function openFilesLimits(): { soft: number; hard: number } | undefined {
  try {
    // RLIMIT_NOFILE is never unlimited: the kernel caps it at fs.nr_open.
    const match = /^Max open files\s+(\d+)\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match ? { soft: Number(match[1]), hard: Number(match[2]) } : undefined;
  } catch {
    return undefined;
  }
}
