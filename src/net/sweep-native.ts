import { isIP } from 'node:net';
import { getSystemErrorMap, getSystemErrorName } from 'node:util';
import type { ProbeKind, ProbeSpec } from '../core/probe-kind.js';
import type { Observation, ProbeResult } from '../core/result.js';
import type { RoundRunner } from '../core/silence-rounds.js';
import { eachProbe, isoAt, resultOf, type PlanList } from '../core/runner.js';
import { ADDON_PATH, nativeAddon, type NativeAddon } from './native-addon.js';
import { answeredWith, silentAfter } from '../core/observation.js';
import { formatMs } from '../core/duration.js';
import { failureObservation } from './classify.js';
import { explainedByIcmp, ICMP_LATE_MS } from './tcp-connect.js';
import { addressBytes, canonicalAddress, ipv6, parseIcmp4, parseIcmp6, type IcmpError } from './icmp-packet.js';
import type { SynCookies } from './tcp-segment.js';
import { engineScan, reindexed, subPlan, type SweepSetting } from './sweep-engine.js';

// The native sweep engine's JavaScript half: it packs a round's state-only TCP probes into typed arrays for
// native/sweep.c, runs them off the JavaScript thread, and turns the rows it hands back into results with the
// classification code of the probes themselves (connect: src/net/classify.ts; SYN: src/net/syn-probe.ts), so states,
// reasons and evidence are those of the JavaScript path, plus `evidence.engine`.

export { ADDON_PATH };

/** What native/sweep.c takes. */
interface NativeJob {
  mode: 0 | 1;
  family: Uint8Array;
  address: Uint8Array;
  entryAddress: Uint32Array;
  entryPort: Uint16Array;
  entryTimeout: Uint32Array;
  entryAttempts: Uint8Array;
  concurrency: number;
  rate: number;
  batch: number;
  keys?: Uint32Array;
  /** SYN mode: the job's source ports, `sourcePorts` from `sourcePort`; attempt n goes out from the n-th (mod). */
  sourcePort?: number;
  sourcePorts?: number;
  /** SYN mode: the source ports an answer may come back to (default: the job's own); a series' runs take them all. */
  acceptLow?: number;
  acceptHigh?: number;
}

/** Columns of a row: entry, code | attempts << 8 | local port << 16, errno or ICMP record offset, rtt ms, start ms. */
const ROW = 5;
const CODE = { answered: 0, reset: 1, errno: 2, silent: 3, icmp: 4, self: 5, send: 6 } as const;
/** Rows per batch handed to JavaScript. */
const BATCH = 2048;
/** ICMP errors kept per port and in all, while a connect sweep waits for them. */
const ICMP_PER_PORT = 8;
const ICMP_KEPT = 65_536;
/** Most attempts a SYN probe may make in the engine (one byte of the row). */
const MAX_SYN_ATTEMPTS = 64;

/** Run the probes of `specs` at `picked` on the engine (the rest, and all when it cannot run, on `fallback`). */
export async function runOnEngine(
  specs: PlanList,
  kindOf: (name: string) => ProbeKind,
  setting: SweepSetting,
  fallback: RoundRunner,
  onResult: (result: ProbeResult, index: number) => void,
): Promise<void> {
  const load = nativeAddon();
  if ('why' in load) {
    await fallback(specs, notedJs(specs, kindOf, load.why, onResult));
    return;
  }
  const { addon } = load;
  // SYN mode's parts (crypto for its keys, the raw socket's wording) load only for a round that may send SYNs: a
  // connect sweep's first probes go out without them.
  const syn = mayGoSyn(specs, kindOf) ? await synParts() : undefined;
  const connect = new JobBuilder(specs.length);
  const synJob = new JobBuilder(specs.length);
  const taken = new Uint8Array(specs.length);
  const rawFamily = new Map<4 | 6, boolean>();
  let synWhy: string | undefined | null = null;
  // Per probe, only its port: the rest is its port run's (a sweep of 65,535 ports makes one spec here).
  let last: ProbeSpec | undefined;
  let scan: ReturnType<typeof engineScan>;
  let family: 4 | 6 = 4;
  eachProbe(specs, (index, spec, port) => {
    if (spec !== last) {
      last = spec;
      scan = engineScan(spec, kindOf(spec.kind));
      if (scan !== undefined) family = isIP(spec.target.address!) === 6 ? 6 : 4;
    }
    if (scan === undefined || port === null) return;
    let fallbackWhy: string | undefined;
    if (scan !== 'connect') {
      if (synWhy === null) synWhy = synUnavailableIn(addon, syn!);
      if (!rawFamily.has(family)) rawFamily.set(family, addon.rawAvailable(family) === 0);
      if (synWhy === undefined && rawFamily.get(family) && spec.attempts <= MAX_SYN_ATTEMPTS) {
        synJob.add(index, spec, port, undefined);
        taken[index] = 1;
        return;
      }
      // SYN mode asked for, or possible but not here for this family: the JavaScript path says why.
      if (scan === 'syn' || synWhy === undefined) return;
      fallbackWhy = `SYN mode unavailable: ${synWhy}`;
    }
    // Connect mode in the engine makes one attempt; more (racing connects) are the JavaScript path's.
    if (spec.attempts !== 1) return;
    connect.add(index, spec, port, fallbackWhy);
    taken[index] = 1;
  });
  const rest: number[] = [];
  for (let index = 0; index < specs.length; index += 1) if (!taken[index]) rest.push(index);
  const runs: Array<Promise<unknown>> = [];
  if (rest.length > 0) runs.push(fallback(subPlan(specs, rest), reindexed(rest, onResult)));
  if (connect.size > 0) runs.push(new EngineRun(addon, connect, 0, specs, setting, kindOf, fallback, onResult).done);
  if (synJob.size > 0) {
    // Each job a key and source ports of its own (one per attempt of its probes: a retry is a fresh 4-tuple, an
    // independent draw at a target that lost its SYN-ACK to the attempt before): answers are matched by address,
    // port, source port and key, so another job's SYN to the same port (a concurrent run, a loss probe, the next
    // silence round's copy) can never answer this one's.
    // The runs of one series (a plan's first pass and its retry copies, which never run the same port at once) share
    // a key and hear answers to any source port of the process: the target's late SYN-ACK to an earlier run's attempt
    // of a port counts for the run that now probes it.
    const { SynCookies, randomBytes, takePorts, sourcePorts } = syn!;
    synKeys ??= { fresh: () => new SynCookies(randomBytes(32)), ports: takePorts, range: sourcePorts() };
    runs.push(new EngineRun(addon, synJob, 1, specs, setting, kindOf, fallback, onResult).done);
  }
  await Promise.all(runs);
}

/** What SYN mode needs besides the addon: crypto for its keys, the SYN probe's classification and wording. */
interface SynParts {
  randomBytes: typeof import('node:crypto').randomBytes;
  SynCookies: typeof import('./tcp-segment.js').SynCookies;
  takePorts: typeof import('./syn-scanner.js').takePorts;
  sourcePorts: typeof import('./syn-scanner.js').sourcePorts;
  RAW_OFF: string;
  rawTcpWhy: (message: string) => string;
  synAnswered: typeof import('./syn-probe.js').synAnswered;
  synSendFailed: typeof import('./syn-probe.js').synSendFailed;
}

/** SYN mode's parts once a round loaded them (every SYN engine run comes after). */
let synLoaded: SynParts | undefined;

/** Load SYN mode's parts. */
async function synParts(): Promise<SynParts> {
  const [
    { randomBytes },
    { SynCookies },
    { takePorts, sourcePorts, RAW_OFF, rawTcpWhy },
    { synAnswered, synSendFailed },
  ] = await Promise.all([
    import('node:crypto'),
    import('./tcp-segment.js'),
    import('./syn-scanner.js'),
    import('./syn-probe.js'),
  ]);
  return (synLoaded = {
    randomBytes,
    SynCookies,
    takePorts,
    sourcePorts,
    RAW_OFF,
    rawTcpWhy,
    synAnswered,
    synSendFailed,
  });
}

/** Whether any probe of the round would run in SYN mode if it could (`--scan syn` or `auto`). */
function mayGoSyn(specs: PlanList, kindOf: (name: string) => ProbeKind): boolean {
  let last: ProbeSpec | undefined;
  let found = false;
  eachProbe(specs, (_index, spec) => {
    if (found || spec === last) return;
    last = spec;
    const scan = engineScan(spec, kindOf(spec.kind));
    found = scan !== undefined && scan !== 'connect';
  });
  return found;
}

/** Why the engine cannot send SYNs here (as src/net/syn-scanner.ts words it), or undefined when it can. */
function synUnavailableIn(addon: NativeAddon, syn: SynParts): string | undefined {
  if (process.env.REACHGATE_RAW_SOCKET === 'off') return syn.RAW_OFF;
  const errno = addon.rawAvailable(4);
  if (errno === 0) return undefined;
  return syn.rawTcpWhy(`${getSystemErrorName(-errno)}: ${getSystemErrorMap().get(-errno)?.[1] ?? ''}`);
}

/** Results of probes the engine would have run, marked with the engine that ran them (JavaScript) and why. */
function notedJs(
  specs: PlanList,
  kindOf: (name: string) => ProbeKind,
  why: string,
  onResult: (result: ProbeResult, index: number) => void,
): (result: ProbeResult, index: number) => void {
  return (result, index) => {
    const spec = specs.at(index)!;
    if (engineScan(spec, kindOf(spec.kind)) !== undefined) {
      result.evidence = { ...result.evidence, engine: 'js', engine_note: why };
    }
    onResult(result, index);
  };
}

/** A round's probes for one mode of the engine, packed as native/sweep.c reads them. */
class JobBuilder {
  size = 0;
  readonly indexes: Uint32Array;
  readonly entryAddress: Uint32Array;
  readonly ports: Uint16Array;
  readonly timeouts: Uint32Array;
  readonly attempts: Uint8Array;
  /** Per entry: 1 when SYN mode fell back to connect, for the reason `fallbackWhy` (evidence.scan_fallback). */
  readonly fellBack: Uint8Array;
  fallbackWhy: string | undefined;
  /** Address (canonical text) -> its index; families by index. */
  readonly addresses = new Map<string, number>();
  readonly families: Array<4 | 6> = [];
  /** The most attempts a probe of the job makes: its source ports, one per attempt. */
  mostAttempts = 1;

  constructor(most: number) {
    this.indexes = new Uint32Array(most);
    this.entryAddress = new Uint32Array(most);
    this.ports = new Uint16Array(most);
    this.timeouts = new Uint32Array(most);
    this.attempts = new Uint8Array(most);
    this.fellBack = new Uint8Array(most);
  }

  /** Probe `index`: `spec`, or its port run's first (the same but for the port), at `port`. */
  add(index: number, spec: ProbeSpec, port: number, fallbackWhy: string | undefined): void {
    const text = spec.target.address!;
    let at = this.addresses.get(text);
    if (at === undefined) {
      const address = canonicalAddress(text);
      at = this.addresses.get(address);
      if (at === undefined) {
        at = this.families.length;
        this.addresses.set(address, at);
        this.families.push(isIP(address) === 6 ? 6 : 4);
      }
      // The text as the plan writes it, too: the next probe to it needs no canonical form.
      this.addresses.set(text, at);
    }
    const entry = this.size++;
    this.indexes[entry] = index;
    this.entryAddress[entry] = at;
    this.ports[entry] = port;
    this.timeouts[entry] = Math.max(1, Math.min(Math.round(spec.timeoutMs), 0xffffffff));
    this.attempts[entry] = spec.attempts;
    if (spec.attempts > this.mostAttempts) this.mostAttempts = spec.attempts;
    if (fallbackWhy !== undefined) {
      this.fellBack[entry] = 1;
      this.fallbackWhy = fallbackWhy;
    }
  }

  /** Each address once, in index order, with its canonical text. */
  *canonical(): IterableIterator<string> {
    const seen = new Set<number>();
    for (const [text, at] of this.addresses) {
      if (seen.has(at)) continue;
      seen.add(at);
      yield text;
    }
  }

  job(mode: 0 | 1, setting: SweepSetting): NativeJob {
    const address = new Uint8Array(16 * this.families.length);
    let at = 0;
    for (const text of this.canonical()) address.set(addressBytes(text), 16 * at++);
    return {
      mode,
      family: Uint8Array.from(this.families),
      address,
      entryAddress: this.entryAddress.subarray(0, this.size),
      entryPort: this.ports.subarray(0, this.size),
      entryTimeout: this.timeouts.subarray(0, this.size),
      entryAttempts: this.attempts.subarray(0, this.size),
      concurrency: mode === 1 ? (setting.synConcurrency ?? setting.concurrency) : setting.concurrency,
      rate: setting.ratePerSecond ?? 0,
      batch: BATCH,
    };
  }
}

/** The last observation made from a row, and what it was made from. */
interface RowMemo {
  code: number;
  attempts: number;
  value: number;
  rttMs: number;
  timeoutMs: number;
  fellBack: number;
  observation: Observation;
}

let synKeys:
  | {
      fresh: () => SynCookies;
      ports: (attempts: number) => { base: number; count: number };
      range: { low: number; high: number };
    }
  | undefined;
/** The key of each series (a plan's first pass and retry copies), while the series lives. */
const seriesKeys = new WeakMap<object, SynCookies>();

/** One run of the engine: the job out, rows back into results, the ICMP errors a connect sweep hears. */
class EngineRun {
  readonly done: Promise<void>;
  readonly #builder: JobBuilder;
  readonly #mode: 0 | 1;
  readonly #specs: PlanList;
  readonly #setting: SweepSetting;
  readonly #kindOf: (name: string) => ProbeKind;
  readonly #onResult: (result: ProbeResult, index: number) => void;
  readonly #reported: Uint8Array;
  readonly #startedAt = Date.now();
  readonly #book: IcmpBook | undefined;
  readonly #waits: Array<Promise<void>> = [];
  #memo: RowMemo | undefined;
  #fault: unknown;

  constructor(
    addon: NativeAddon,
    builder: JobBuilder,
    mode: 0 | 1,
    specs: PlanList,
    setting: SweepSetting,
    kindOf: (name: string) => ProbeKind,
    fallback: RoundRunner,
    onResult: (result: ProbeResult, index: number) => void,
  ) {
    this.#builder = builder;
    this.#mode = mode;
    this.#specs = specs;
    this.#setting = setting;
    this.#kindOf = kindOf;
    this.#onResult = onResult;
    this.#reported = new Uint8Array(builder.size);
    const job = builder.job(mode, setting);
    if (mode === 1 && synKeys) {
      const keys = new Uint32Array(4 * builder.families.length);
      let at = 0;
      const series = setting.series;
      let cookies = series === undefined ? undefined : seriesKeys.get(series);
      if (cookies === undefined) {
        cookies = synKeys.fresh();
        if (series !== undefined) seriesKeys.set(series, cookies);
      }
      for (const text of builder.canonical()) keys.set(cookies.subkey(text), 4 * at++);
      job.keys = keys;
      const ports = synKeys.ports(builder.mostAttempts);
      job.sourcePort = ports.base;
      job.sourcePorts = ports.count;
      if (series !== undefined) {
        job.acceptLow = synKeys.range.low;
        job.acceptHigh = synKeys.range.high;
      }
    }
    // Connect mode learns an ICMP error's sender from the ICMP listener, as the JavaScript connect does.
    this.#book = mode === 0 && setting.icmp ? new IcmpBook(builder.addresses) : undefined;
    const stopHearing = this.#book ? setting.icmp!.listen(this.#book.hear) : undefined;
    this.done = new Promise<void>((resolve, reject) => {
      addon.sweep(job, (rows, icmp, error) => {
        if (rows) return this.#take(rows, icmp);
        void this.#finish(error, fallback).then(() => {
          stopHearing?.();
          if (this.#fault !== undefined)
            reject(this.#fault instanceof Error ? this.#fault : new Error(String(this.#fault)));
          else resolve();
        }, reject);
      });
    });
  }

  #take(rows: Float64Array, icmp: Uint8Array | null): void {
    for (let at = 0; at + ROW <= rows.length; at += ROW) {
      const entry = rows[at]!;
      const packed = rows[at + 1]!;
      const code = packed % 256;
      const attempts = Math.floor(packed / 256) % 256;
      const localPort = Math.floor(packed / 65536);
      if (this.#reported[entry]) continue;
      this.#reported[entry] = 1;
      const index = this.#builder.indexes[entry]!;
      const spec = this.#specs.at(index)!;
      const startedAt = isoAt(this.#startedAt + rows[at + 4]!);
      const rtt = rows[at + 3]!;
      if (this.#mode === 1) {
        // An ICMP row's value is its record's offset: a record of its own each time.
        const observation =
          code === CODE.icmp
            ? this.#synObservation(spec, code, attempts, rows[at + 2]!, rtt, icmp)
            : this.#memoized(code, attempts, rows[at + 2]!, rtt, spec, 0);
        this.#deliver(spec, index, startedAt, observation);
      } else {
        this.#connectResult(spec, entry, index, startedAt, code, localPort, rows[at + 2]!, rtt);
      }
    }
  }

  #deliver(spec: ProbeSpec, index: number, startedAt: string, observation: Observation): void {
    try {
      this.#onResult(resultOf(spec, startedAt, observation), index);
    } catch (error) {
      this.#fault ??= error;
    }
  }

  #connectResult(
    spec: ProbeSpec,
    entry: number,
    index: number,
    startedAt: string,
    code: number,
    localPort: number,
    errno: number,
    rttMs: number,
  ): void {
    const fellBack = this.#builder.fellBack[entry]!;
    const book = this.#book;
    if (book && code !== CODE.answered && code !== CODE.silent && code !== CODE.self) {
      const address = this.#builder.entryAddress[entry]!;
      const port = spec.target.port!;
      const seen = book.find(address, port, localPort);
      // As src/net/tcp-connect.ts: a refusal takes an ICMP error only if one already came; an unreachable waits a
      // moment.
      if (seen)
        return this.#deliver(
          spec,
          index,
          startedAt,
          this.#connectObservation(code, errno, rttMs, spec, fellBack, seen),
        );
      if (explainedByIcmp(getSystemErrorName(-errno))) {
        const late = book.wait(address, port, localPort, ICMP_LATE_MS).then((icmp) => {
          this.#deliver(spec, index, startedAt, this.#connectObservation(code, errno, rttMs, spec, fellBack, icmp));
        });
        this.#waits.push(late);
        return;
      }
    }
    this.#deliver(spec, index, startedAt, this.#memoized(code, 1, errno, rttMs, spec, fellBack));
  }

  /** A connect row's observation: the states, reasons and evidence of src/net/tcp-connect.ts's. */
  #connectObservation(
    code: number,
    errno: number,
    rttMs: number,
    spec: ProbeSpec,
    fellBack: number,
    icmp: IcmpError | undefined,
  ): Observation {
    const evidence: Record<string, unknown> = fellBack
      ? { scan: 'connect', scan_fallback: this.#builder.fallbackWhy, engine: 'native' }
      : { engine: 'native' };
    if (code === CODE.answered) {
      return answeredWith(`connected in ${formatMs(rttMs)}`, [], { rtt_ms: rttMs, attempts: 1, evidence });
    }
    if (code === CODE.silent) return { ...silentAfter(spec.timeoutMs, 1), evidence };
    const name = code === CODE.self ? 'ESELFCONNECT' : getSystemErrorName(-errno);
    const observation = failureObservation(
      { errno: name, rttMs, ...(icmp ? { icmp } : {}) },
      1,
      this.#setting.icmpNote,
    );
    observation.evidence = evidence;
    return observation;
  }

  /**
   * A row's observation, shared with the row before when it has the same code, attempts, errno, round trip, deadline
   * and fallback: the rows of one batch of answers (a sweep's closed ports) mostly do, so a sweep of 65,535 ports
   * makes a few thousand observations, not 65,535 with their reasons and evidence. Not for a row with an ICMP error
   * (each its own). Nothing changes an observation or its evidence once a result holds it (src/core/silence-rounds.ts
   * copies before it adds).
   */
  #memoized(
    code: number,
    attempts: number,
    value: number,
    rttMs: number,
    spec: ProbeSpec,
    fellBack: number,
  ): Observation {
    // Silence reads no round trip (the deadline says it all): the silent rows of a batch share one observation.
    if (code === CODE.silent) rttMs = 0;
    const memo = this.#memo;
    if (
      memo !== undefined &&
      memo.code === code &&
      memo.attempts === attempts &&
      memo.value === value &&
      memo.rttMs === rttMs &&
      memo.timeoutMs === spec.timeoutMs &&
      memo.fellBack === fellBack
    ) {
      return memo.observation;
    }
    const observation =
      this.#mode === 1
        ? this.#synObservation(spec, code, attempts, value, rttMs, null)
        : this.#connectObservation(code, value, rttMs, spec, fellBack, undefined);
    this.#memo = { code, attempts, value, rttMs, timeoutMs: spec.timeoutMs, fellBack, observation };
    return observation;
  }

  #synObservation(
    spec: ProbeSpec,
    code: number,
    attempts: number,
    value: number,
    rttMs: number,
    icmp: Uint8Array | null,
  ): Observation {
    const { synAnswered, synSendFailed } = synLoaded!;
    const evidence = { scan: 'syn', engine: 'native' };
    const icmpNote = this.#setting.icmpNote;
    if (code === CODE.answered) return synAnswered('syn-ack', rttMs, attempts, icmpNote, evidence);
    if (code === CODE.reset) return synAnswered('reset', rttMs, attempts, icmpNote, evidence);
    if (code === CODE.icmp && icmp) {
      const error = icmpRecord(icmp, value);
      if (error) return synAnswered(error, rttMs, attempts, icmpNote, evidence);
    }
    if (code === CODE.send || code === CODE.errno) {
      const name = getSystemErrorName(-value);
      const message = getSystemErrorMap().get(-value)?.[1] ?? name;
      return synSendFailed(name, message, rttMs, attempts, icmpNote, evidence);
    }
    return { ...silentAfter(spec.timeoutMs, attempts), evidence };
  }

  /** The engine is done: wait for late ICMP errors, then run what it could not (its error) on the JavaScript path. */
  async #finish(error: string | null, fallback: RoundRunner): Promise<void> {
    await Promise.all(this.#waits);
    const missing: number[] = [];
    for (let entry = 0; entry < this.#reported.length; entry += 1) {
      if (!this.#reported[entry]) missing.push(this.#builder.indexes[entry]!);
    }
    if (missing.length === 0) return;
    const why = `the native sweep engine failed: ${error ?? 'it ended without every result'}`;
    const part = subPlan(this.#specs, missing);
    await fallback(part, notedJs(part, this.#kindOf, why, reindexed(missing, this.#onResult)));
  }
}

/** The ICMP error of a SYN row: [family][source, 16 bytes][length, u16 LE][the packet as the raw socket read it]. */
function icmpRecord(bytes: Uint8Array, offset: number): IcmpError | null {
  const family = bytes[offset] === 6 ? 6 : 4;
  const source = Buffer.from(bytes.buffer, bytes.byteOffset + offset + 1, 16);
  const length = bytes[offset + 17]! | (bytes[offset + 18]! << 8);
  const packet = Buffer.from(bytes.buffer, bytes.byteOffset + offset + 19, length);
  return family === 4 ? parseIcmp4(packet, [...source.subarray(0, 4)].join('.')) : parseIcmp6(packet, ipv6(source));
}

/** The TCP ICMP errors the listener hears during a connect sweep, by address and port, for the failed connects. */
class IcmpBook {
  readonly #addresses: ReadonlyMap<string, number>;
  readonly #seen = new Map<string, IcmpError[]>();
  readonly #waiting = new Map<string, Set<(error: IcmpError) => void>>();
  #kept = 0;

  constructor(addresses: ReadonlyMap<string, number>) {
    this.#addresses = addresses;
  }

  readonly hear = (family: 4 | 6, packet: Buffer, source: string): void => {
    const error = family === 4 ? parseIcmp4(packet, source) : parseIcmp6(packet, source);
    if (!error || error.quoted.protocol !== 'tcp') return;
    const address = this.#addresses.get(canonicalAddress(error.quoted.destination));
    if (address === undefined) return;
    const key = `${address}|${error.quoted.destinationPort}`;
    let list = this.#seen.get(key);
    if (!list) this.#seen.set(key, (list = []));
    if (list.length < ICMP_PER_PORT && this.#kept < ICMP_KEPT) {
      list.push(error);
      this.#kept += 1;
    }
    for (const waiter of [...(this.#waiting.get(key) ?? [])]) waiter(error);
  };

  /** An ICMP error seen for the address and port, from this local port (0: any). */
  find(address: number, port: number, localPort: number): IcmpError | undefined {
    if (this.#seen.size === 0) return undefined;
    return this.#seen.get(`${address}|${port}`)?.find((error) => matches(error, localPort));
  }

  /** The ICMP error for the address and port once it comes, or undefined after `ms`. */
  wait(address: number, port: number, localPort: number, ms: number): Promise<IcmpError | undefined> {
    const key = `${address}|${port}`;
    return new Promise((resolve) => {
      let set = this.#waiting.get(key);
      if (!set) this.#waiting.set(key, (set = new Set()));
      const finish = (error: IcmpError | undefined): void => {
        clearTimeout(timer);
        set.delete(waiter);
        if (set.size === 0 && this.#waiting.get(key) === set) this.#waiting.delete(key);
        resolve(error);
      };
      const waiter = (error: IcmpError): void => {
        if (matches(error, localPort)) finish(error);
      };
      const timer = setTimeout(() => finish(undefined), ms);
      set.add(waiter);
    });
  }
}

function matches(error: IcmpError, localPort: number): boolean {
  return localPort === 0 || error.quoted.sourcePort === localPort;
}
