import { readFileSync } from 'node:fs';
import type { Finding } from './finding.js';

const CHECK = 'resolvers';
/** glibc reads at most this many nameserver lines (MAXNS in resolv.h). */
const MAXNS = 3;
/** systemd-resolved's stub listener. */
const RESOLVED_STUB = '127.0.0.53';

/** The name servers and search domains this host resolves names with, from resolv.conf. */
export function checkResolvers(file = '/etc/resolv.conf'): Finding {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return {
      check: CHECK,
      status: 'warn',
      message: `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)}): names resolve from /etc/hosts only`,
      fix: `add a \`nameserver IP\` line to ${file}, or give probes --resolver IP`,
      evidence: { file },
    };
  }
  const nameservers: string[] = [];
  const search: string[] = [];
  for (const line of text.split('\n')) {
    const [key, ...values] = line
      .replace(/[#;].*$/, '')
      .trim()
      .split(/\s+/);
    if (key === 'nameserver' && values[0]) nameservers.push(values[0]);
    // The last search or domain line wins (resolv.conf(5)).
    if ((key === 'search' || key === 'domain') && values.length > 0) search.splice(0, search.length, ...values);
  }
  const evidence = { file, nameservers, search };
  if (nameservers.length === 0) {
    return {
      check: CHECK,
      status: 'warn',
      message: `${file} names no nameserver: the C library then asks 127.0.0.1:53, where likely nothing answers`,
      fix: `add a \`nameserver IP\` line to ${file}, or give probes --resolver IP`,
      evidence,
    };
  }
  const notes: string[] = [];
  if (search.length > 0) notes.push(`search ${search.join(' ')}`);
  if (nameservers.includes(RESOLVED_STUB))
    notes.push("127.0.0.53 is systemd-resolved's stub: `resolvectl status` shows the servers behind it");
  const listed = `nameserver ${nameservers.join(', ')}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`;
  if (nameservers.length > MAXNS) {
    return {
      check: CHECK,
      status: 'warn',
      message: `${listed}: only the first ${MAXNS} are used, ${nameservers.slice(MAXNS).join(', ')} never`,
      fix: `keep at most ${MAXNS} nameserver lines in ${file}`,
      evidence,
    };
  }
  return { check: CHECK, status: 'ok', message: listed, evidence };
}
