/** A target as the user wrote it: a host and the ports to probe there. */
export interface TargetSpec {
  host: string;
  /** Empty when the target named no port. */
  ports: number[];
  /** The URL asked for, when the kind's target is a URL (the host and port are then where to connect). */
  url?: string;
}
