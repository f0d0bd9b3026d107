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
