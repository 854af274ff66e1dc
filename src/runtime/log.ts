/**
 * The one place loggers are made: serve, dev and the agent write JSON lines (one object per line, for log
 * shippers), except `arrakis dev` on a terminal, which prints them pretty for a person.
 */
import pino, { type Logger, type LoggerOptions } from 'pino';

export interface LogSetup {
  level: string;
  /** Human-readable lines (pino-pretty) instead of JSON; only worth it on a terminal. */
  pretty?: boolean;
  /** `name` field of every line (the agent says `arrakis-agent`). */
  name?: string;
}

/** Headers that carry credentials never reach a log line. */
const REDACT = {
  paths: [
    'req.headers.authorization',
    'req.headers.cookie',
    'req.headers["x-api-key"]',
    'headers.authorization',
  ],
  censor: '[redacted]',
};

/** Builds a logger from the settings. */
export function createLogger(setup: LogSetup): Logger {
  const options: LoggerOptions = {
    level: setup.level,
    redact: REDACT,
    ...(setup.name === undefined ? {} : { name: setup.name }),
  };
  if (setup.pretty !== true) return pino(options);
  // pino-pretty runs in a worker thread, so formatting costs the event loop nothing.
  return pino({
    ...options,
    transport: {
      target: 'pino-pretty',
      options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
    },
  });
}

/** Pretty output only for a person at a terminal: piped or redirected output stays JSON. */
export function prettyOnTerminal(stream: { isTTY?: boolean } = process.stdout): boolean {
  return stream.isTTY === true;
}
