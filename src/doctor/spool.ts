import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AgentConfig } from '../agent/config.js';
import { reportProblem, Spool } from '../agent/spool.js';
import type { Finding } from './finding.js';

const CHECK = 'spool';
/** Share of the spool's bound from which the oldest reports are about to be dropped. */
const NEARLY_FULL = 0.9;
/** Files named one by one in the fix line; beyond this, a glob. */
const MAX_LISTED = 5;

/** The agent's spool: reports waiting, their size and age, and files set aside as corrupt or refused; reads only. */
export function checkSpool(config: AgentConfig, now = Date.now()): Finding {
  const dir = config.spoolDir;
  if (!existsSync(dir)) {
    if (existsSync(dirname(dir)))
      return {
        check: CHECK,
        subject: dir,
        status: 'ok',
        message: 'no spool yet: the agent creates it (mode 700) at its first run',
      };
    return {
      check: CHECK,
      subject: dir,
      status: 'warn',
      message: `neither the spool nor its parent ${dirname(dir)} exists`,
      fix: `mkdir -p ${dir} and give it to the agent's user, or let systemd create it (StateDirectory=reachgate)`,
    };
  }
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    return {
      check: CHECK,
      subject: dir,
      status: 'warn',
      message: `cannot read the spool (${(error as NodeJS.ErrnoException).code ?? String(error)}) as uid ${process.getuid?.()}`,
      fix: "run doctor as the agent's user, or as root",
    };
  }
  // Listing and stat only: Spool.read would move a corrupt file aside, which is the agent's business.
  const spool = new Spool(dir, config.spoolLimit, silentLog);
  const entries = spool.entries();
  const bytes = entries.reduce((sum, entry) => sum + entry.size, 0);
  // Set-aside files count toward the bound too: the agent rotates them with the reports, oldest first.
  const aside = spool.setAsideEntries();
  const used = { files: entries.length + aside.length, bytes: aside.reduce((sum, entry) => sum + entry.size, bytes) };
  const oldestMs = entries.length > 0 ? Number(entries[0]!.name.slice(0, 15)) : undefined;
  const unreadable = entries
    .filter((entry) => {
      try {
        return reportProblem(readFileSync(entry.path, 'utf8')) !== null;
      } catch {
        return true;
      }
    })
    .map((entry) => entry.name);
  const corrupt = [...names.filter((name) => name.endsWith('.json.corrupt')), ...unreadable];
  const rejected = names.filter((name) => name.endsWith('.json.rejected'));
  const evidence = {
    dir,
    reports: entries.length,
    bytes,
    oldest_age_s: oldestMs === undefined ? null : Math.round((now - oldestMs) / 1000),
    corrupt,
    rejected,
    limit: config.spoolLimit,
  };
  const state =
    entries.length === 0
      ? 'no report waiting for delivery'
      : `${entries.length} report${entries.length === 1 ? '' : 's'} waiting for delivery, ${size(bytes)}, the oldest from ${age(now - oldestMs!)} ago`;

  const problems: string[] = [];
  const fixes: string[] = [];
  if (corrupt.length > 0 || rejected.length > 0) {
    const kinds = [
      corrupt.length > 0 ? `${corrupt.length} corrupt (${corrupt.join(', ')})` : '',
      rejected.length > 0 ? `${rejected.length} refused by the coordinator (${rejected.join(', ')})` : '',
    ].filter(Boolean);
    problems.push(`${kinds.join(' and ')}: never sent`);
    const files = [...corrupt, ...rejected];
    const listed =
      files.length <= MAX_LISTED
        ? files.map((name) => join(dir, name)).join(' ')
        : `${join(dir, '*.corrupt')} ${join(dir, '*.rejected')}`;
    fixes.push(`look at them, then remove them: rm ${listed}`);
  }
  const delivering = `see the coordinator and token findings; \`reachgate agent --config ${config.file} --once --log-level debug\` shows why delivery fails`;
  if (oldestMs !== undefined && now - oldestMs > 2 * config.intervalMs) {
    problems.push(`reports wait longer than two intervals (${age(2 * config.intervalMs)}): delivery is failing`);
    fixes.push(delivering);
  }
  const { count, bytes: maxBytes } = config.spoolLimit;
  if (
    (count !== undefined && used.files >= NEARLY_FULL * count) ||
    (maxBytes !== undefined && used.bytes >= NEARLY_FULL * maxBytes)
  ) {
    problems.push(
      `nearly full (${count !== undefined ? `at most ${count} files` : `at most ${size(maxBytes!)}`}, set-aside files included): the oldest are dropped next`,
    );
    if (!fixes.includes(delivering)) fixes.push(delivering);
  }
  if (problems.length === 0) return { check: CHECK, subject: dir, status: 'ok', message: state, evidence };
  return {
    check: CHECK,
    subject: dir,
    status: 'warn',
    message: `${state}; ${problems.join('; ')}`,
    fix: fixes.join('; '),
    evidence,
  };
}

const silentLog = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function age(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}
