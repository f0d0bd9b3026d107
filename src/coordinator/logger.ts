import pino, { type DestinationStream, type Level, type Logger } from 'pino';

/** How much the coordinator logs: a pino level, or nothing. */
export type CoordinatorLogLevel = Level | 'silent';

/** The coordinator's log: JSON lines with ISO times, on stderr (fd 2, written synchronously) unless given another destination. */
export function coordinatorLogger(level: CoordinatorLogLevel, destination?: DestinationStream): Logger {
  return pino(
    { level, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination({ fd: 2, sync: true }),
  );
}
