// What probes, the runner and the ICMP listener share about ICMP errors: types only; net/ holds the raw sockets.

/** An ICMP error and the packet header it quotes: enough to match it to the probe that caused it. */
export interface IcmpError {
  family: 4 | 6;
  type: number;
  code: number;
  /** The host or router that sent the error. */
  from: string;
  /** What the quoted header says we sent. */
  quoted: {
    protocol: 'tcp' | 'udp' | 'icmp' | 'other';
    source: string;
    destination: string;
    sourcePort: number;
    destinationPort: number;
  };
}

/** The path of one in-flight probe, as an ICMP error would quote it. */
export interface PathKey {
  protocol: 'tcp' | 'udp' | 'icmp';
  remote: string;
  /** Remote port; for ICMP echo, 0. */
  port: number;
  /** Local port (or echo identifier), when known: narrows the match. */
  localPort?: number;
}

/** Waits for the ICMP error that answers one probe. */
export interface IcmpWatch {
  /** The first matching ICMP error, once one came. */
  readonly seen: IcmpError | undefined;
  /**
   * Narrow the match to a local port: the port, or how to read it when an ICMP error for the path comes
   * (reading a socket's local port is a system call that most probes never need).
   */
  setLocalPort(port: number | (() => number | undefined)): void;
  /** Resolve with the matching ICMP error, or undefined after `ms`. */
  wait(ms: number): Promise<IcmpError | undefined>;
  /** Stop watching. */
  close(): void;
}

/** Hears one ICMP message as a raw socket read it: IPv4 with its IP header, ICMPv6 without. */
export type IcmpMessageHandler = (family: 4 | 6, packet: Buffer, source: string) => void;

/** One raw ICMP socket per address family, shared by every probe of the process. */
export interface IcmpListener {
  watch(key: PathKey): IcmpWatch;
  /** Send one ICMP message (an echo request) on the raw socket of the address's family; rejects with the socket's error. */
  send(address: string, message: Buffer): Promise<void>;
  /** Hear every ICMP message the raw sockets read (echo replies, for the icmp probe); returns how to stop. */
  listen(handler: IcmpMessageHandler): () => void;
  close(): void;
}
