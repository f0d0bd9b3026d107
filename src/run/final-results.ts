import type { ProbeSpec } from '../core/probe-kind.js';
import type { ProbeResult } from '../core/result.js';
import type { RouteEvidence } from '../core/route.js';
import { familyPairs, noteFamilyPair } from './families.js';

/**
 * Turns a run's results, as they come in any order, into the results its report carries: the route toward each
 * address in the evidence (of a sweep only the first probe per row and address, in plan order, carries it) and
 * the difference between address families named in both results of a pair. Holds only what it must: results
 * that come before the routes are known, and the first result of a family pair until its partner comes.
 */
export class FinalResults {
  readonly #plan: readonly ProbeSpec[];
  readonly #deliver: (result: ProbeResult, index: number) => void;
  readonly #pairs: Map<number, number>;
  readonly #held = new Map<number, ProbeResult>();
  /** Plan indexes of the sweep probes that carry their address's route: the first per row and address. */
  readonly #routeCarriers = new Set<number>();
  #routes: ReadonlyMap<string, RouteEvidence> | undefined;
  #waiting: Array<[ProbeResult, number]> = [];

  constructor(plan: readonly ProbeSpec[], deliver: (result: ProbeResult, index: number) => void) {
    this.#plan = plan;
    this.#deliver = deliver;
    this.#pairs = familyPairs(plan);
    const swept = new Set<string>();
    plan.forEach((spec, index) => {
      if (!spec.sweep || spec.target.address === null) return;
      const key = `${spec.row}|${spec.target.address}`;
      if (swept.has(key)) return;
      swept.add(key);
      this.#routeCarriers.add(index);
    });
  }

  /** The routes are known (an empty map when ip(8) is missing): results held for them go out. */
  routesKnown(routes: ReadonlyMap<string, RouteEvidence>): void {
    if (this.#routes) return;
    this.#routes = routes;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const [result, index] of waiting) this.take(result, index);
  }

  /** A result of plan index `index`, as the runner judged it. */
  take(result: ProbeResult, index: number): void {
    if (!this.#routes) {
      this.#waiting.push([result, index]);
      return;
    }
    const partner = this.#pairs.get(index);
    if (partner === undefined) {
      this.#deliver(this.#withRoute(result, index), index);
      return;
    }
    const other = this.#held.get(partner);
    if (!other) {
      this.#held.set(index, result);
      return;
    }
    this.#held.delete(partner);
    const [noted, notedOther] = noteFamilyPair(result, other);
    this.#deliver(this.#withRoute(noted, index), index);
    this.#deliver(this.#withRoute(notedOther, partner), partner);
  }

  /** The result with the route toward its address in its evidence, where it carries one. */
  #withRoute(result: ProbeResult, index: number): ProbeResult {
    const address = result.target.address;
    const route = address === null ? undefined : this.#routes!.get(address);
    if (!route) return result;
    if (this.#plan[index]!.sweep && !this.#routeCarriers.has(index)) return result;
    return { ...result, evidence: { ...result.evidence, route } };
  }
}
