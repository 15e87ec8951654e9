/** Printing and saving benchmark results: a table, JSON, and an SVG chart. */

export interface Cell {
  system: string;
  op: 'put' | 'get' | 'get-into';
  size: number;
  concurrency: number;
  /** Median over rounds. */
  gbPerSec: number;
  objPerSec: number;
  /** Every round's GB/s, for the spread. */
  rounds: number[];
}

export const label = (size: number): string => (size >= 1 << 20 ? `${size >> 20} MiB` : `${size >> 10} KiB`);

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

export function throughputTable(cells: Cell[], systems: string[]): string {
  const rows = [['op', 'size', 'conc', ...systems.flatMap((s) => [`${s} GB/s`, 'obj/s'])]];
  const keys = [...new Set(cells.map((c) => `${c.op}|${c.size}|${c.concurrency}`))];
  for (const k of keys) {
    const [op, size, conc] = k.split('|');
    const row = [op!, label(Number(size)), conc!];
    for (const s of systems) {
      const c = cells.find((x) => `${x.op}|${x.size}|${x.concurrency}` === k && x.system === s);
      row.push(c ? c.gbPerSec.toFixed(2) : '-', c ? c.objPerSec.toFixed(0) : '-');
    }
    rows.push(row);
  }
  return table(rows);
}

const COLORS: Record<string, string> = { wasm: '#4c78a8', native: '#f58518', 'node-fs': '#54a24b', 'c-odirect': '#9d755d' };

/** Six panels (put/get/get-into × concurrency 1/4), grouped bars of GB/s per size and system. */
export function svgChart(cells: Cell[], systems: string[], title: string): string {
  const sizes = [...new Set(cells.map((c) => c.size))].sort((a, b) => a - b);
  const panels: Array<[Cell['op'], number]> = [['put', 1], ['put', 4], ['get', 1], ['get', 4], ['get-into', 1], ['get-into', 4]];
  const pw = 420, ph = 260, pad = 40, gap = 30;
  const width = pad + 2 * (pw + gap), height = 70 + 3 * (ph + gap) + 30;
  const max = Math.max(...cells.map((c) => c.gbPerSec), 0.1);
  const scale = Math.ceil(max);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${pad}" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`,
  ];
  systems.forEach((s, i) => {
    out.push(`<rect x="${pad + i * 110}" y="34" width="12" height="12" fill="${COLORS[s] ?? '#888'}"/>`);
    out.push(`<text x="${pad + i * 110 + 16}" y="44">${escape(s)}</text>`);
  });
  panels.forEach(([op, conc], p) => {
    const x0 = pad + (p % 2) * (pw + gap), y0 = 70 + Math.floor(p / 2) * (ph + gap);
    const plotH = ph - 40;
    out.push(`<text x="${x0}" y="${y0 + 12}" font-weight="bold">${op} GB/s, concurrency ${conc}</text>`);
    for (let g = 0; g <= scale; g++) {
      const y = y0 + 20 + plotH - (g / scale) * plotH;
      out.push(`<line x1="${x0}" x2="${x0 + pw}" y1="${y}" y2="${y}" stroke="#ddd"/><text x="${x0 - 4}" y="${y + 4}" text-anchor="end">${g}</text>`);
    }
    const groupW = pw / sizes.length, barW = (groupW - 16) / systems.length;
    sizes.forEach((size, si) => {
      systems.forEach((s, k) => {
        const c = cells.find((x) => x.op === op && x.concurrency === conc && x.size === size && x.system === s);
        if (!c) return;
        const h = (c.gbPerSec / scale) * plotH;
        const x = x0 + si * groupW + 8 + k * barW;
        out.push(`<rect x="${x.toFixed(1)}" y="${(y0 + 20 + plotH - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[s] ?? '#888'}"><title>${s} ${op} ${label(size)} c${conc}: ${c.gbPerSec.toFixed(2)} GB/s</title></rect>`);
      });
      out.push(`<text x="${x0 + si * groupW + groupW / 2}" y="${y0 + ph - 6}" text-anchor="middle">${label(size)}</text>`);
    });
  });
  out.push('</svg>');
  return out.join('\n');
}

function escape(s: string): string {
  return s.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);
}

/** A Markdown table. */
export function markdownTable(rows: string[][]): string {
  const [head, ...body] = rows;
  return [`| ${head!.join(' | ')} |`, `|${head!.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** Replaces the text between `<!-- bench:begin -->` and `<!-- bench:end -->` in `doc`, if present. */
export function spliceGenerated(doc: string, generated: string): string | undefined {
  const m = /<!-- bench:begin -->[\s\S]*<!-- bench:end -->/.exec(doc);
  return m ? doc.replace(m[0], `<!-- bench:begin -->\n${generated}\n<!-- bench:end -->`) : undefined;
}
