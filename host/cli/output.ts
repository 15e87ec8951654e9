/** How commands print: aligned tables or `--json`, and progress bars on long work. */
import { SingleBar } from 'cli-progress';

/** Prints `rows` (the first is the header) as aligned columns; the first column left-aligned, the rest right-aligned. */
export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length)));
  for (const r of rows) console.log(formatRow(r, widths));
}

/** Prints `name: value` pairs as two left-aligned columns (a summary, not a table of figures). */
export function printPairs(pairs: [string, string][]): void {
  const width = Math.max(...pairs.map(([k]) => [...k].length));
  for (const [k, v] of pairs) console.log(`${k.padEnd(width)}  ${v}`);
}

/** One table row in fixed `widths`, for tables printed as their rows arrive. */
export function formatRow(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

/**
 * A key as a terminal line shows it: as it is, unless it holds control characters (a newline would
 * split it, an escape sequence would reach the terminal) or a `"` at its start — then JSON-quoted,
 * as `put` and `rm` print keys, so what is shown is unambiguous and never interpreted.
 */
export function printableKey(key: string): string {
  if (key.search(UNPRINTABLE) < 0 && !key.startsWith('"')) return key;
  // JSON escapes the C0 controls itself; the others it leaves raw.
  return JSON.stringify(key).replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** C0 and C1 controls, DEL, the line/paragraph separators, and the bidirectional and zero-width formatting characters (which could make one key display as another). */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/gu;

/** Prints `value` as one JSON document. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** A progress bar on stderr; silent when stderr is not a terminal or progress is off. */
export interface Progress {
  advance(by?: number): void;
  stop(): void;
}

/**
 * Starts a progress bar over `total` steps.
 * @param enabled - false for `--no-progress` and `--json`.
 */
export function progress(label: string, total: number, enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY || total < 2) return { advance() {}, stop() {} };
  const bar = new SingleBar({
    format: `${label} [{bar}] {value}/{total} {percentage}% ETA {eta_formatted}`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
  });
  bar.start(total, 0);
  return { advance: (by = 1) => bar.increment(by), stop: () => bar.stop() };
}

/** `bytes` in the largest binary unit that keeps it ≥ 1 (`4 MiB`, `4095 B`). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes;
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${Number.isInteger(n) ? n : n.toFixed(1)} ${units[u]}`;
}

/**
 * Prints a runtime failure as one line and sets exit code 1: a
 * {@link KvboxError} as `kvbox: <Name> (<code>): <message>`, anything else
 * by its message. The stack only with `KVBOX_DEBUG=1`.
 */
export function reportFailure(err: unknown): void {
  const e = err as { name?: string; code?: unknown; message?: string };
  const typed = err instanceof Error && typeof e.code === 'string' && e.code.startsWith('ERR_KVBOX');
  // One line, whatever the message holds (a remote store's error body may span several).
  const text = (typed ? `kvbox: ${e.name} (${String(e.code)}): ${e.message}` : `kvbox: ${err instanceof Error ? err.message : String(err)}`).replace(/\s*\n\s*/g, ' ');
  console.error(text);
  if (process.env.KVBOX_DEBUG === '1') console.error(err);
  process.exitCode = 1;
}
