import type { BlockedMode, Expectation } from '../core/result.js';
import type { ProbeKind, ProbeSpec } from '../core/probe-kind.js';
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
export async function planProbes(request: ProbeRequest): Promise<ProbeSpec[]> {
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
  const plan: ProbeSpec[] = [];
  request.targets.forEach((target, index) => {
    const resolution = resolutions[index]!;
    const ports = target.ports.length > 0 ? target.ports : kind.protocol === 'icmp' ? [null] : [defaultPort ?? null];
    const addresses = 'addresses' in resolution ? resolution.addresses : [null];
    for (const address of addresses) {
      for (const port of ports) {
        // A URL target names what was asked for; the endpoint says where it was asked (the server, or a proxy).
        const asked = target.url === undefined ? '' : `${target.url}@`;
        const endpoint =
          address === null ? `${target.host}${port === null ? '' : `:${port}`}` : formatEndpoint(address, port);
        plan.push({
          id: `${kind.name}:${asked}${endpoint}`,
          kind: kind.name,
          target: { host: target.host, address, port, protocol },
          expect: request.expect,
          ...(request.expect === 'blocked' && request.blocked && request.blocked !== 'any'
            ? { blocked: request.blocked }
            : {}),
          options: request.options,
          timeoutMs: request.timeoutMs,
          attempts: request.attempts,
          ...(target.url === undefined ? {} : { url: target.url }),
          ...('error' in resolution ? { unresolved: resolution.error } : {}),
        });
      }
    }
  });
  return plan;
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
