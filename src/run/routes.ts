import type { ProbeResult } from '../core/result.js';
import type { RouteEvidence } from '../core/route.js';
import { ipRouteGet } from '../net/route-get.js';

/** Target addresses whose route a run records at most: a site names a few servers, not hundreds. */
export const ROUTED_ADDRESSES_MAX = 64;
/** ip(8) lookups at once. */
const LOOKUPS_AT_ONCE = 8;

/**
 * The kernel's route toward each address (the first {@link ROUTED_ADDRESSES_MAX}), asked through iproute2's
 * `ip -j route get`: nothing is sent. Empty when ip is not installed: the reports then record no route.
 */
export async function lookUpRoutes(addresses: Iterable<string>): Promise<Map<string, RouteEvidence>> {
  const pending = [...new Set(addresses)].slice(0, ROUTED_ADDRESSES_MAX);
  const routes = new Map<string, RouteEvidence>();
  let missing = false;
  const worker = async (): Promise<void> => {
    for (let address = pending.shift(); address !== undefined && !missing; address = pending.shift()) {
      const answer = await ipRouteGet(address);
      if ('missing' in answer) missing = true;
      else if ('error' in answer) routes.set(address, { error: answer.error });
      else {
        const { prefsrc, gateway, dev, type } = answer.route;
        routes.set(address, {
          ...(prefsrc ? { source: prefsrc } : {}),
          ...(gateway ? { gateway } : {}),
          ...(dev ? { dev } : {}),
          ...(type && type !== 'unicast' ? { type } : {}),
        });
      }
    }
  };
  await Promise.all(Array.from({ length: LOOKUPS_AT_ONCE }, worker));
  return missing ? new Map() : routes;
}

/**
 * Results with the route toward their address added to their evidence as `route` (results without one unchanged).
 * Of a sweep's results only the first per address carries it: a thousand copies would add a tenth to the report.
 */
export function withRoutes(
  results: ProbeResult[],
  routes: ReadonlyMap<string, RouteEvidence>,
  isSweep: (index: number) => boolean = () => false,
): ProbeResult[] {
  if (routes.size === 0) return results;
  const swept = new Set<string>();
  return results.map((result, index) => {
    const address = result.target.address;
    const route = address === null ? undefined : routes.get(address);
    if (!route) return result;
    if (isSweep(index)) {
      if (swept.has(`${result.row}|${address}`)) return result;
      swept.add(`${result.row}|${address}`);
    }
    return { ...result, evidence: { ...result.evidence, route } };
  });
}
