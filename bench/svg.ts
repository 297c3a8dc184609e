/**
 * A hand-written SVG chart per scenario: rows collected, budget use and live lag over simulated
 * time, ours against the baseline.
 */
import type { Sample } from './recorder';

interface Series { name: string; color: string; samples: Sample[] }

const W = 760;
const PANEL_H = 170;
const LEFT = 70;
const RIGHT = 20;
const TOP = 40;
const GAP = 50;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}k`;
  return n >= 10 ? n.toFixed(0) : n.toFixed(n >= 1 ? 1 : 2);
}

export function chartSvg(title: string, series: Series[], xMaxMin?: number): string {
  const xMax = xMaxMin ?? Math.max(1, ...series.flatMap((s) => s.samples.map((p) => p.tMin)));
  const panels: { label: string; pick: (s: Sample) => number; unit: string }[] = [
    { label: 'rows collected', pick: (s) => s.rows, unit: '' },
    { label: 'budget use (requests in the rolling window / allowed)', pick: (s) => s.budgetUse * 100, unit: '%' },
    { label: 'live lag (minutes, now - collected up to)', pick: (s) => s.lagMin, unit: ' min' },
  ];
  const plotW = W - LEFT - RIGHT;
  const height = TOP + panels.length * (PANEL_H + GAP) + 10;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${LEFT}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`);
  let lx = W - RIGHT;
  for (const s of [...series].reverse()) {
    const label = esc(s.name);
    lx -= label.length * 6.5 + 24;
    out.push(`<rect x="${lx}" y="10" width="12" height="12" fill="${s.color}"/><text x="${lx + 16}" y="20">${label}</text>`);
  }
  panels.forEach((p, i) => {
    const y0 = TOP + i * (PANEL_H + GAP);
    const values = series.flatMap((s) => s.samples.filter((q) => q.tMin <= xMax).map(p.pick));
    let yMax = Math.max(1e-9, ...values);
    if (p.unit === '%') yMax = Math.max(100, yMax);
    yMax *= 1.05;
    out.push(`<text x="${LEFT}" y="${y0 - 6}" font-weight="bold">${esc(p.label)}</text>`);
    out.push(`<rect x="${LEFT}" y="${y0}" width="${plotW}" height="${PANEL_H}" fill="none" stroke="#999"/>`);
    for (let k = 0; k <= 4; k++) {
      const v = (yMax * k) / 4;
      const y = y0 + PANEL_H - (PANEL_H * k) / 4;
      out.push(`<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${y}" y2="${y}" stroke="#eee"/>`);
      out.push(`<text x="${LEFT - 4}" y="${y + 4}" text-anchor="end">${fmt(v)}${p.unit}</text>`);
      const xv = (xMax * k) / 4;
      out.push(`<text x="${LEFT + (plotW * k) / 4}" y="${y0 + PANEL_H + 14}" text-anchor="middle">${fmt(xv)} min</text>`);
    }
    for (const s of series) {
      const pts = s.samples.filter((q) => q.tMin <= xMax)
        .map((q) => `${(LEFT + (q.tMin / xMax) * plotW).toFixed(1)},${(y0 + PANEL_H - (Math.min(p.pick(q), yMax) / yMax) * PANEL_H).toFixed(1)}`);
      if (pts.length) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${pts.join(' ')}"/>`);
    }
  });
  out.push(`<text x="${LEFT + plotW / 2}" y="${height - 2}" text-anchor="middle" fill="#666">simulated minutes since the start of the run</text>`);
  out.push('</svg>');
  return out.join('\n');
}
