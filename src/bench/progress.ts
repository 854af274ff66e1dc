/**
 * One progress line per check: redrawn in place on a terminal (`⠿ warm  3/5 jobs`), then replaced by the
 * verdict; on a pipe or log, a line when a check starts and one with its verdict.
 */
import type { CheckName, CheckResult } from './types.js';

export interface Progress {
  start(check: CheckName): void;
  /** What the running check is doing now (drawn on a terminal only). */
  update(text: string): void;
  finish(result: CheckResult): void;
  /** A line outside any check (set-up, the report's paths). */
  note(text: string): void;
}

const MARK = { pass: '✓', fail: '✗', not_run: '–' } as const;

function verdictLine(result: CheckResult): string {
  const status = result.status === 'not_run' ? 'not run' : result.status;
  return `${MARK[result.status]} ${result.name.padEnd(11)} ${status.padEnd(7)} ${result.summary}`;
}

class TerminalProgress implements Progress {
  private check: CheckName | null = null;

  constructor(private readonly out: NodeJS.WriteStream) {}

  start(check: CheckName): void {
    this.check = check;
    this.draw('…');
  }

  update(text: string): void {
    if (this.check !== null) this.draw(text);
  }

  finish(result: CheckResult): void {
    this.out.write(`\r\x1b[2K${verdictLine(result)}\n`);
    this.check = null;
  }

  note(text: string): void {
    this.out.write(`${this.check === null ? '' : '\r\x1b[2K'}${text}\n`);
    if (this.check !== null) this.draw('…');
  }

  private draw(text: string): void {
    const width = Math.max(20, (this.out.columns || 80) - 1);
    this.out.write(`\r\x1b[2K${`⠿ ${this.check ?? ''}  ${text}`.slice(0, width)}`);
  }
}

class LineProgress implements Progress {
  constructor(private readonly out: NodeJS.WritableStream) {}

  start(check: CheckName): void {
    this.out.write(`… ${check} started\n`);
  }

  update(): void {}

  finish(result: CheckResult): void {
    this.out.write(`${verdictLine(result)}\n`);
  }

  note(text: string): void {
    this.out.write(`${text}\n`);
  }
}

/** In-place lines on a terminal, plain lines otherwise. */
export function createProgress(out: NodeJS.WriteStream): Progress {
  return out.isTTY === true ? new TerminalProgress(out) : new LineProgress(out);
}
