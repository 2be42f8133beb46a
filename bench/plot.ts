/**
 * A small line chart as SVG, rendered to PNG with resvg (no browser, no canvas). Enough for a benchmark
 * figure: axes with ticks, one polyline per series, marked points, a legend.
 */
import fs from 'node:fs';
import { Resvg } from '@resvg/resvg-js';

export interface Series {
  name: string;
  color: string;
  points: Array<[number, number]>;
  /** Points to mark with a dot and a label (operating points). */
  marks?: Array<{ at: [number, number]; label: string }>;
}

export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  xMax: number;
  yMax: number;
  series: Series[];
  /** Vertical reference lines (e.g. the 1% target). */
  vlines?: Array<{ x: number; label: string }>;
  xFormat?: (x: number) => string;
  yFormat?: (y: number) => string;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function chartSvg(c: Chart, width = 900, height = 560): string {
  const m = { l: 70, r: 20, t: 50, b: 60 };
  const w = width - m.l - m.r;
  const h = height - m.t - m.b;
  const X = (x: number) => m.l + (Math.min(x, c.xMax) / c.xMax) * w;
  const Y = (y: number) => m.t + h - (Math.min(y, c.yMax) / c.yMax) * h;
  const fx = c.xFormat ?? ((x: number) => String(x));
  const fy = c.yFormat ?? ((y: number) => String(y));
  const parts: string[] = [];
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${width / 2}" y="28" text-anchor="middle" font-size="18" font-family="DejaVu Sans, sans-serif">${esc(c.title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const xv = (c.xMax * i) / 5;
    const yv = (c.yMax * i) / 5;
    parts.push(`<line x1="${X(xv)}" y1="${m.t}" x2="${X(xv)}" y2="${m.t + h}" stroke="#eee"/>`);
    parts.push(`<line x1="${m.l}" y1="${Y(yv)}" x2="${m.l + w}" y2="${Y(yv)}" stroke="#eee"/>`);
    parts.push(`<text x="${X(xv)}" y="${m.t + h + 18}" text-anchor="middle" font-size="12" font-family="DejaVu Sans, sans-serif">${esc(fx(xv))}</text>`);
    parts.push(`<text x="${m.l - 8}" y="${Y(yv) + 4}" text-anchor="end" font-size="12" font-family="DejaVu Sans, sans-serif">${esc(fy(yv))}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${w}" height="${h}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${m.l + w / 2}" y="${height - 18}" text-anchor="middle" font-size="14" font-family="DejaVu Sans, sans-serif">${esc(c.xLabel)}</text>`);
  parts.push(`<text x="18" y="${m.t + h / 2}" text-anchor="middle" font-size="14" font-family="DejaVu Sans, sans-serif" transform="rotate(-90 18 ${m.t + h / 2})">${esc(c.yLabel)}</text>`);
  for (const v of c.vlines ?? []) {
    parts.push(`<line x1="${X(v.x)}" y1="${m.t}" x2="${X(v.x)}" y2="${m.t + h}" stroke="#999" stroke-dasharray="5,4"/>`);
    parts.push(`<text x="${X(v.x) + 4}" y="${m.t + 14}" font-size="12" fill="#666" font-family="DejaVu Sans, sans-serif">${esc(v.label)}</text>`);
  }
  c.series.forEach((s, i) => {
    const pts = s.points.filter(([x]) => x <= c.xMax).map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`);
    if (pts.length > 0) parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const mk of s.marks ?? []) {
      parts.push(`<circle cx="${X(mk.at[0])}" cy="${Y(mk.at[1])}" r="5" fill="${s.color}"/>`);
      parts.push(`<text x="${X(mk.at[0]) + 8}" y="${Y(mk.at[1]) + 16}" font-size="12" fill="${s.color}" font-family="DejaVu Sans, sans-serif">${esc(mk.label)}</text>`);
    }
    const ly = m.t + 20 + i * 20;
    parts.push(`<line x1="${m.l + w - 400}" y1="${ly}" x2="${m.l + w - 370}" y2="${ly}" stroke="${s.color}" stroke-width="3"/>`);
    parts.push(`<text x="${m.l + w - 364}" y="${ly + 4}" font-size="13" font-family="DejaVu Sans, sans-serif">${esc(s.name)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

/** Writes the chart as .svg and .png (same base name). */
export function writeChart(base: string, c: Chart): void {
  const svg = chartSvg(c);
  fs.writeFileSync(`${base}.svg`, svg);
  const png = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
  fs.writeFileSync(`${base}.png`, png);
}
