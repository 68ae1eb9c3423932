/** What the progress bar needs of its output: a terminal stream. */
export interface TerminalStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): boolean;
}

export interface ProgressState {
  readonly bytesRead: number;
  readonly packets: number;
  readonly flows: number;
}

const MB = 1e6;

/**
 * One-line progress on a terminal: `build-2.pcap [#######-----] 57% 120.3/209.7 MB · 8,123 flows ·
 * 96.4 MB/s`, redrawn at most every `intervalMs`, erased when done. Writes nothing to a stream
 * that is not a TTY.
 */
export class ProgressBar {
  private lastDraw = 0;
  private readonly started: number;
  private drawn = false;

  constructor(
    private readonly output: TerminalStream,
    private readonly label: string,
    private readonly totalBytes: number,
    private readonly now: () => number = Date.now,
    private readonly intervalMs = 100,
  ) {
    this.started = now();
  }

  update(state: ProgressState): void {
    if (!this.output.isTTY) return;
    const now = this.now();
    if (now - this.lastDraw < this.intervalMs) return;
    this.lastDraw = now;
    this.output.write(`\r${this.render(state, now)}\x1b[K`);
    this.drawn = true;
  }

  /** Erases the bar so the summary line that follows starts clean. */
  finish(): void {
    if (this.drawn) this.output.write('\r\x1b[K');
  }

  render(state: ProgressState, now = this.now()): string {
    const fraction = this.totalBytes > 0 ? Math.min(1, state.bytesRead / this.totalBytes) : 0;
    const seconds = Math.max(0.001, (now - this.started) / 1000);
    const rate = `${(state.bytesRead / MB / seconds).toFixed(1)} MB/s`;
    const text = `${(state.bytesRead / MB).toFixed(1)}/${(this.totalBytes / MB).toFixed(1)} MB · ${state.flows.toLocaleString('en-US')} flows · ${rate}`;
    const columns = this.output.columns ?? 80;
    const width = Math.max(10, Math.min(30, columns - this.label.length - text.length - 10));
    const filled = Math.round(fraction * width);
    const line = `${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}% ${text}`;
    return line.slice(0, Math.max(20, columns - 1));
  }
}
