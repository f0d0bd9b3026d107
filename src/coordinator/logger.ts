import pino, { type DestinationStream, type Level, type Logger } from 'pino';

/** How much the coordinator logs: a pino level, or nothing. */
export type CoordinatorLogLevel = Level | 'silent';

/**
 * The coordinator's log: JSON lines with ISO times, on stderr unless given another destination. Lines are written
 * asynchronously: the lines of requests that finish while a write is under way go out together in the next one
 * (one write(2) per request cost about 4 % of ingest's CPU), and pino writes what is left synchronously at exit.
 */
export function coordinatorLogger(level: CoordinatorLogLevel, destination?: DestinationStream): Logger {
  return pino(
    { level, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination({ fd: 2, sync: false }),
  );
}
