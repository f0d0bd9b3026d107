import type { BlockedMode, Expectation } from '../core/result.js';
import type { ProbeKind, ProbeSpec } from '../core/probe-kind.js';
import type { PlanList, PortRun } from '../core/runner.js';
import type { TargetSpec } from '../core/target-spec.js';
import { UsageError } from '../core/usage-error.js';
import { formatEndpoint } from '../net/target.js';
import { resolveHost, type ResolverAddress } from '../net/resolve.js';

/** Everything `probe` needs to expand its targets into a plan. */
export interface ProbeRequest {
  kind: ProbeKind;
  targets: TargetSpec[];
  expect: Expectation;
  /** How a blocked path must be blocked (default any). */
  blocked?: BlockedMode;
  options: unknown;
  timeoutMs: number;
  attempts: number;
  resolver?: ResolverAddress;
}

/** Expand targets into concrete probes: each resolved address and each port is a probe of its own. */
export async function planProbes(request: ProbeRequest): Promise<ProbePlan> {
  const { kind } = request;
  const defaultPort = kind.defaultPortFor?.(request.options) ?? kind.defaultPort;
  for (const target of request.targets) {
    if (target.ports.length === 0 && defaultPort === undefined && kind.protocol !== 'icmp') {
      throw new UsageError(
        `The target \`${target.host}\` names no port, and ${kind.name} has no standard port`,
        `Add the port: ${target.host}:PORT, e.g. ${target.host}:5900 or ${target.host}:22,80-90`,
      );
    }
  }
  const resolutions = await Promise.all(
    request.targets.map((target) => resolveHost(target.host, request.timeoutMs, request.resolver)),
  );
  const protocol = kind.protocolFor?.(request.options) ?? kind.protocol;
  const blocks: PlanBlock[] = [];
  request.targets.forEach((target, index) => {
    const resolution = resolutions[index]!;
    const ports = target.ports.length > 0 ? target.ports : kind.protocol === 'icmp' ? [null] : [defaultPort ?? null];
    const addresses = 'addresses' in resolution ? resolution.addresses : [null];
    for (const address of addresses) {
      blocks.push({
        target,
        address,
        ports,
        ...('error' in resolution ? { unresolved: resolution.error } : {}),
      });
    }
  });
  return new ProbePlan(request, protocol, blocks);
}

/** One target at one address (or unresolved), with its ports: probes made when the runner asks for them. */
interface PlanBlock {
  target: TargetSpec;
  address: string | null;
  ports: ReadonlyArray<number | null>;
  unresolved?: string;
}

/**
 * The probes of a `probe` command, made one at a time as the runner asks: a sweep of 65,535 ports holds its
 * port list, not 65,535 specs. `at(i)` makes a fresh spec each time.
 */
export class ProbePlan implements PlanList {
  readonly length: number;
  readonly #starts: number[] = [];

  constructor(
    private readonly request: ProbeRequest,
    private readonly protocol: ProbeSpec['target']['protocol'],
    private readonly blocks: readonly PlanBlock[],
  ) {
    let length = 0;
    for (const block of blocks) {
      this.#starts.push(length);
      length += block.ports.length;
    }
    this.length = length;
  }

  at(index: number): ProbeSpec | undefined {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) return undefined;
    let b = this.blocks.length - 1;
    while (this.#starts[b]! > index) b -= 1;
    const block = this.blocks[b]!;
    const port = block.ports[index - this.#starts[b]!]!;
    const { target, address } = block;
    const { request } = this;
    // A URL target names what was asked for; the endpoint says where it was asked (the server, or a proxy).
    const asked = target.url === undefined ? '' : `${target.url}@`;
    const endpoint =
      address === null ? `${target.host}${port === null ? '' : `:${port}`}` : formatEndpoint(address, port);
    const spec: ProbeSpec = {
      id: `${request.kind.name}:${asked}${endpoint}`,
      kind: request.kind.name,
      target: { host: target.host, address, port, protocol: this.protocol },
      expect: request.expect,
      options: request.options,
      timeoutMs: request.timeoutMs,
      attempts: request.attempts,
    };
    if (request.expect === 'blocked' && request.blocked && request.blocked !== 'any') spec.blocked = request.blocked;
    if (target.url !== undefined) spec.url = target.url;
    if (block.unresolved !== undefined) spec.unresolved = block.unresolved;
    return spec;
  }

  portRuns(): PortRun[] {
    return this.blocks.map((block, b) => ({ start: this.#starts[b]!, ports: block.ports }));
  }

  /** Every probe, in order. */
  *[Symbol.iterator](): IterableIterator<ProbeSpec> {
    for (let i = 0; i < this.length; i += 1) yield this.at(i)!;
  }
}

/** Resolve the hosts of a plan whose specs name hosts only: each host once, each address a probe of its own. */
export async function resolvePlan(
  plan: readonly ProbeSpec[],
  timeoutMs: number,
  resolver?: ResolverAddress,
): Promise<ProbeSpec[]> {
  const hosts = [...new Set(plan.map((spec) => spec.target.host))];
  const answers = new Map(
    await Promise.all(hosts.map(async (host) => [host, await resolveHost(host, timeoutMs, resolver)] as const)),
  );
  return plan.flatMap((spec): ProbeSpec[] => {
    const resolution = answers.get(spec.target.host)!;
    if ('error' in resolution) return [{ ...spec, unresolved: resolution.error }];
    return resolution.addresses.map((address) => ({
      ...spec,
      id: resolution.addresses.length > 1 || address !== spec.target.host ? `${spec.id}@${address}` : spec.id,
      target: { ...spec.target, address },
    }));
  });
}
