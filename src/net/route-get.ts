import { execFile } from 'node:child_process';

const IP_TIMEOUT_MS = 5_000;

/** What `ip -j route get` says about one address. */
export interface RouteAnswer {
  type?: string;
  dst: string;
  gateway?: string;
  dev?: string;
  prefsrc?: string;
  flags?: string[];
}

/** The kernel's route toward an address (asks the kernel through iproute2, sends nothing), its error, or that ip(8) is missing. */
export function ipRouteGet(address: string): Promise<{ route: RouteAnswer } | { error: string } | { missing: true }> {
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
export function explainRouteError(error: string): string {
  if (/Network is unreachable/i.test(error)) return 'the routing table has no route for it (no default route?)';
  if (/No route to host/i.test(error)) return 'an `unreachable` route covers it';
  if (/Permission denied/i.test(error)) return 'a `prohibit` route covers it';
  if (/Invalid argument/i.test(error))
    return 'a `blackhole` route covers it (the kernel drops what is sent there), or the address cannot be routed';
  return `the kernel says: ${error}`;
}
