import type { Options as CliOption } from 'yargs';
import type { BlockedMode, Expectation, Observation, Target } from './result.js';
import type { IcmpListener } from './icmp.js';
import type { TargetSpec } from './target-spec.js';
import type { Deadline } from './deadline.js';

/** One concrete probe of a plan: one kind, one address, one port, one expectation. */
export interface ProbeSpec<KindOptions = unknown> {
  id: string;
  row?: string;
  kind: string;
  target: Target;
  expect: Expectation;
  /** For expect blocked: whether a drop, a reject or either proves it (default any). */
  blocked?: BlockedMode;
  options: KindOptions;
  /** The deadline for the whole probe, all attempts included. */
  timeoutMs: number;
  attempts: number;
  /** Set when the target name did not resolve: the probe is not sent. */
  unresolved?: string;
  /** The URL to ask for, for kinds whose target is a URL (see ProbeKind.parseTarget). */
  url?: string;
  /** For a negative probe: the role that must reach the same target for blocked to be proven. */
  control?: string;
  /** The responder role that confirms delivery of the probe's nonce (a profile's `confirm`). */
  confirm?: string;
  /** What the probe does and does not prove, from its profile. */
  note?: string;
  /**
   * Part of a port sweep: starts once no named row needs this host any more (each has settled or only waits on
   * silence), so thousands of sweep probes never crowd out a named row's handshake or exchange.
   */
  sweep?: boolean;
}

/** A target whose name resolved: the address and port a probe sends to (ICMP, which has no ports, gets port 0). */
export interface ResolvedTarget extends Target {
  address: string;
  port: number;
}

/** A probe spec whose target resolved: what the runner hands a kind's observe. */
export interface ResolvedProbeSpec<KindOptions = unknown> extends ProbeSpec<KindOptions> {
  target: ResolvedTarget;
}

/** What the runner hands a probe while it runs. */
export interface ProbeContext {
  /** Aborts at the probe's deadline: the probe must settle promptly then. */
  signal: AbortSignal;
  /**
   * The same deadline, cheaper to watch than the signal (the runner makes the signal only when a probe reads it).
   * Absent in a context built by hand; a kind that hands on a narrower signal must not hand this on.
   */
  deadline?: Deadline;
  /** The ICMP error listener, or null when it is off (see icmpNote). */
  icmp: IcmpListener | null;
  /** Why the ICMP listener is off, for reasons that depend on it. */
  icmpNote: string | undefined;
  /**
   * The probe tells the runner it now only waits on silence (true: its connect, datagram or echo request is out,
   * nothing has answered, and an answer would end it with one read: no handshake or request follows), or that it
   * works again (false: something answered). A probe that never says counts as working until it settles; a run lets
   * a sweep start beside named rows only while every named row waits (src/run/execute.ts). Absent in a context built
   * by hand.
   */
  waiting?(waiting: boolean): void;
}

/** A probe kind: a plug-in module under probes/, found by its file name. */
export interface ProbeKind<KindOptions = unknown> {
  name: string;
  /** One line for `--help` and `reachgate profiles`. */
  summary: string;
  protocol: Target['protocol'];
  /** The transport a probe with these options uses, when options can change it (e.g. dns --tcp). */
  protocolFor?(options: KindOptions): Target['protocol'];
  /** The protocol's standard port, used when a target names none. */
  defaultPort?: number;
  /** The standard port for these options, when options can change it (e.g. tcp --service ssh). */
  defaultPortFor?(options: KindOptions): number | undefined;
  /** Parse a target that is not HOST[:PORTS] (e.g. a URL); returns where to connect, with the URL. */
  parseTarget?(text: string, options: KindOptions): TargetSpec;
  /** Attempts when the user does not say. */
  defaultAttempts: number;
  /** Kind-specific command line options. */
  cliOptions: Record<string, CliOption>;
  /** Examples for `--help`: [command, description]. */
  examples: Array<[string, string]>;
  /** Load what probes with these options need (TLS, an HTTP client) before any deadline starts. */
  prepare?(options: KindOptions): Promise<unknown> | undefined;
  /** Validate kind options (from argv or a profile); throws UsageError naming the option. */
  parseOptions(raw: Record<string, unknown>): KindOptions;
  /**
   * How a probe may run in the sweep engine (src/net/sweep-engine.ts), when all it proves is a TCP port's state
   * (no TLS, request, reply check, source address or trace): its scan mode. Undefined: only observe() can run it.
   */
  stateOnlyScan?(spec: ProbeSpec<KindOptions>): 'connect' | 'syn' | 'auto' | undefined;
  /**
   * The cheapest probe of a port that answered which still tells an answer from a loss: the silence rounds' loss
   * probes (src/core/silence-rounds.ts). Undefined: the port's own probe.
   */
  lossTrial?(spec: ProbeSpec<KindOptions>): ProbeSpec<KindOptions>;
  /** Probe one resolved address and port; never throws for anything the network does. */
  observe(spec: ResolvedProbeSpec<KindOptions>, context: ProbeContext): Promise<Observation>;
}
