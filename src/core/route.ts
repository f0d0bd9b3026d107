import type { ProbeResult } from './result.js';

/**
 * The kernel's route toward a probe's target address when the run began (what `ip route get ADDRESS` says), as
 * a result's `evidence.route`: the source address its packets carried and the first router they went to.
 */
export interface RouteEvidence {
  /** The source address the kernel picks toward the target. */
  source?: string;
  /** The next router; absent when the target is on a directly connected link (or is this host). */
  gateway?: string;
  /** The interface the packets leave by. */
  dev?: string;
  /** The route's type when it is not unicast, e.g. `local` for an address of this host. */
  type?: string;
  /** The kernel found no route: its words (no packet could leave). */
  error?: string;
}

const FIELDS = ['source', 'gateway', 'dev', 'type', 'error'] as const;

/** A result's recorded route, or undefined when its report records none (an older agent, or no iproute2 there). */
export function routeOf(result: ProbeResult): RouteEvidence | undefined {
  const recorded = result.evidence?.route;
  if (recorded === null || typeof recorded !== 'object' || Array.isArray(recorded)) return undefined;
  const route: RouteEvidence = {};
  for (const field of FIELDS) {
    const value = (recorded as Record<string, unknown>)[field];
    if (typeof value === 'string') route[field] = value;
  }
  return Object.keys(route).length > 0 ? route : undefined;
}

/** A route in the words of `ip route get`: "via 192.0.2.1 dev eth0, source 192.0.2.10". */
export function routeText(route: RouteEvidence): string {
  if (route.error !== undefined) return `no route: ${route.error}`;
  if (route.type === 'local') return `this host's own address (dev ${route.dev ?? '?'})`;
  const hop = route.gateway ? `via ${route.gateway}` : 'on a directly connected link';
  const type = route.type && route.type !== 'unicast' ? `${route.type} route, ` : '';
  return `${type}${hop} dev ${route.dev ?? '?'}, source ${route.source ?? 'chosen by the kernel'}`;
}
