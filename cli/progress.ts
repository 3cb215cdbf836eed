/** One-line progress on stderr: count, rate, ETA. Redraws in place on a terminal, logs otherwise. */
export class Progress {
  private readonly t0 = performance.now();
  private last = 0;

  constructor(
    private readonly unit: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  update(done: number, extra = ''): void {
    const now = performance.now();
    if (done < this.total && now - this.last < 250) return;
    this.last = now;
    const secs = (now - this.t0) / 1000;
    const rate = done / Math.max(secs, 1e-9);
    const eta = rate > 0 ? Math.max(0, this.total - done) / rate : Infinity;
    const line = `${done}/${this.total} ${this.unit}  ${rate.toFixed(2)} ${this.unit}/s  ETA ${formatSeconds(eta)}${extra ? `  ${extra}` : ''}`;
    if (this.stream.isTTY) this.stream.write(`\r${line}\x1b[K`);
    else this.stream.write(`${line}\n`);
  }

  done(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--';
  if (s < 60) return `${s.toFixed(0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}
