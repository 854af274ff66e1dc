/**
 * How `arrakis run` shows a job while it runs: a bar redrawn in place on a terminal, plain lines otherwise
 * (logs, CI), where progress is printed at every tenth so a long job does not flood the log.
 */
export interface ProgressView {
  status(status: string): void;
  progress(value: number, max: number, node: string | null): void;
  /** Ends the bar's line (a terminal needs its newline before anything else prints). */
  close(): void;
}

const WIDTH = 30;

function fraction(value: number, max: number): number {
  return max > 0 ? Math.min(1, Math.max(0, value / max)) : 0;
}

class TerminalView implements ProgressView {
  private drawn = false;
  private label = 'queued';

  constructor(private readonly out: NodeJS.WritableStream) {}

  status(status: string): void {
    this.label = status;
    this.draw(0);
  }

  progress(value: number, max: number, node: string | null): void {
    this.label = node === null ? 'running' : `node ${node}`;
    this.draw(fraction(value, max));
  }

  close(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }

  private draw(f: number): void {
    const filled = Math.round(f * WIDTH);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(WIDTH - filled)}`;
    this.out.write(`\r\x1b[K${bar} ${String(Math.round(f * 100)).padStart(3)}%  ${this.label}`);
    this.drawn = true;
  }
}

class LineView implements ProgressView {
  private lastTenth = -1;

  constructor(private readonly out: NodeJS.WritableStream) {}

  status(status: string): void {
    this.out.write(`status ${status}\n`);
  }

  progress(value: number, max: number, node: string | null): void {
    const tenth = Math.floor(fraction(value, max) * 10);
    if (tenth === this.lastTenth) return;
    this.lastTenth = tenth;
    this.out.write(`progress ${tenth * 10}%${node === null ? '' : ` node ${node}`}\n`);
  }

  close(): void {}
}

/** A bar when `out` is a terminal, plain lines otherwise. */
export function createProgressView(out: NodeJS.WritableStream & { isTTY?: boolean }): ProgressView {
  return out.isTTY === true ? new TerminalView(out) : new LineView(out);
}
