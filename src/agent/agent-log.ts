/** The little the agent needs from a logger (a pino logger fits). */
export interface AgentLog {
  info(details: Record<string, unknown>, message: string): void;
  warn(details: Record<string, unknown>, message: string): void;
}

/** A logger that drops everything (tests, embedded use without logging). */
export const silentLog: AgentLog = Object.freeze({ info: () => {}, warn: () => {} });
