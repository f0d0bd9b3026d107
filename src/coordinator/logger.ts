import pino, { type DestinationStream, type Level, type Logger } from 'pino';

/** How much the coordinator logs: a pino level, or nothing. */
export type CoordinatorLogLevel = Level | 'silent';

/** Log bytes held for a stalled stderr at most: past it, lines are dropped instead of filling the coordinator's memory. */
const LOG_BUFFER_MAX = 16 * 1024 * 1024;

/**
 * The coordinator's log: JSON lines with ISO times, on stderr unless given another destination. Lines are written
 * asynchronously: the lines of requests that finish while a write is under way go out together in the next one
 * instead of one write(2) each, and pino writes what is left synchronously at exit.
 */
export function coordinatorLogger(level: CoordinatorLogLevel, destination?: DestinationStream): Logger {
  return pino(
    { level, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination({ fd: 2, sync: false, maxLength: LOG_BUFFER_MAX }),
  );
}
