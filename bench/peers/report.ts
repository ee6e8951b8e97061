/**
 * The peer harness's summary: medians and spread per workload and subject, the ratio of aegisbpf to each subject,
 * one markdown table and one SVG chart (written by hand: no plotting dependency), and the section of
 * docs/benchmarks.md between the `peers:begin` / `peers:end` markers.
 */
import fs from 'node:fs';
import type { Workload } from './subjects';
import { WORKLOAD_TITLES } from './subjects';

export interface RunResult {
  readonly workload: Workload;
  readonly subject: string;
  readonly repeat: number;
  readonly events: number;
  /** Events the receiver counted (less than `events`: the run failed or timed out). */
  readonly received: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  readonly cpuSecondsPerMillion: number;
  readonly peakRssMiB: number;
  readonly drops: number;
  readonly error?: string;
}

export interface Row {
  readonly workload: Workload;
  readonly subject: string;
  readonly runs: number;
  readonly failed: number;
  readonly medianEventsPerSecond: number;
  readonly minEventsPerSecond: number;
  readonly maxEventsPerSecond: number;
  readonly medianCpuSecondsPerMillion: number;
  readonly maxPeakRssMiB: number;
  readonly drops: number;
  /** aegisbpf's median events/s ÷ this subject's (undefined for aegisbpf itself or without a median). */
  readonly ratio?: number;
  /** aegisbpf's CPU s per million ÷ this subject's (< 1: aegisbpf spends less CPU per event). */
  readonly cpuRatio?: number;
  readonly note?: string;
  readonly skipped?: string;
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function summarize(
  results: readonly RunResult[],
  order: readonly { workload: Workload; subject: string; note?: string; skipped?: string }[],
): Row[] {
  const rows: Row[] = [];
  for (const o of order) {
    const all = results.filter((r) => r.workload === o.workload && r.subject === o.subject);
    const ok = all.filter((r) => r.error === undefined);
    rows.push({
      ...o,
      runs: all.length,
      failed: all.length - ok.length,
      medianEventsPerSecond: Math.round(median(ok.map((r) => r.eventsPerSecond))),
      minEventsPerSecond: Math.min(...ok.map((r) => r.eventsPerSecond)),
      maxEventsPerSecond: Math.max(...ok.map((r) => r.eventsPerSecond)),
      medianCpuSecondsPerMillion: Number(median(ok.map((r) => r.cpuSecondsPerMillion)).toFixed(1)),
      maxPeakRssMiB: Math.max(0, ...ok.map((r) => r.peakRssMiB)),
      drops: all.reduce((n, r) => n + r.drops, 0),
    });
  }
  return rows.map((r) => {
    const a = rows.find((x) => x.workload === r.workload && x.subject === 'aegisbpf');
    if (r.subject === 'aegisbpf' || a === undefined || !(a.medianEventsPerSecond > 0) || !(r.medianEventsPerSecond > 0))
      return r;
    return {
      ...r,
      ratio: Number((a.medianEventsPerSecond / r.medianEventsPerSecond).toFixed(2)),
      cpuRatio: Number((a.medianCpuSecondsPerMillion / r.medianCpuSecondsPerMillion).toFixed(2)),
    };
  });
}

const fmt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');

export function markdownTable(rows: readonly Row[]): string {
  const out = [
    '| workload | subject | events/s (median) | min – max | CPU s / M events | peak RSS MiB | aegisbpf ÷ subject: events/s (CPU/event) | note |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    if (r.skipped !== undefined) {
      out.push(`| ${WORKLOAD_TITLES[r.workload]} | ${r.subject} | – | – | – | – | – | skipped: ${r.skipped} |`);
      continue;
    }
    const ok = r.runs - r.failed;
    const failed = r.failed > 0 ? `; ${r.failed} of ${r.runs} runs failed` : '';
    const drops = r.drops > 0 ? `; reported ${r.drops} dropped` : '';
    out.push(
      `| ${WORKLOAD_TITLES[r.workload]} | ${r.subject} | ${ok > 0 ? fmt(r.medianEventsPerSecond) : '–'} | ` +
        `${ok > 0 ? `${fmt(r.minEventsPerSecond)} – ${fmt(r.maxEventsPerSecond)}` : '–'} | ` +
        `${ok > 0 ? r.medianCpuSecondsPerMillion.toFixed(1) : '–'} | ${ok > 0 ? r.maxPeakRssMiB.toFixed(0) : '–'} | ` +
        `${r.ratio === undefined ? '' : `**${r.ratio.toFixed(2)}×** (${r.cpuRatio?.toFixed(2)}×)`} | ${r.note ?? ''}${failed}${drops} |`,
    );
  }
  return out.join('\n');
}

const COLORS: Readonly<Record<string, string>> = {
  baseline: '#9e9e9e',
  aegisbpf: '#1565c0',
  rsyslog: '#ef6c00',
  'syslog-ng': '#6a1b9a',
  otelcol: '#2e7d32',
  kcat: '#795548',
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Horizontal bars of median events/s per workload and subject, min–max whiskers, the ratio written at each peer. */
export function svgChart(rows: readonly Row[], subtitle: string): string {
  const shown = rows.filter((r) => r.skipped === undefined && r.runs - r.failed > 0);
  const workloads = [...new Set(shown.map((r) => r.workload))];
  const max = Math.max(1, ...shown.map((r) => r.maxEventsPerSecond));
  const bar = 16;
  const left = 200;
  const width = 900;
  const plot = width - left - 230;
  const x = (v: number): number => left + (v / max) * plot;
  const parts: string[] = [];
  let y = 56;
  for (const w of workloads) {
    parts.push(`<text x="8" y="${y + 12}" font-weight="bold">${esc(WORKLOAD_TITLES[w])}</text>`);
    y += 20;
    for (const r of shown.filter((s) => s.workload === w)) {
      const color = COLORS[r.subject] ?? '#607d8b';
      parts.push(
        `<text x="${left - 6}" y="${y + 12}" text-anchor="end">${esc(r.subject)}</text>`,
        `<rect x="${left}" y="${y}" width="${(x(r.medianEventsPerSecond) - left).toFixed(1)}" height="${bar}" fill="${color}"/>`,
        `<line x1="${x(r.minEventsPerSecond).toFixed(1)}" x2="${x(r.maxEventsPerSecond).toFixed(1)}" y1="${y + bar / 2}" y2="${y + bar / 2}" stroke="#000" stroke-width="1.5"/>`,
        `<text x="${(Math.max(x(r.maxEventsPerSecond), x(r.medianEventsPerSecond)) + 6).toFixed(1)}" y="${y + 12}">${fmt(r.medianEventsPerSecond)}/s` +
          `${r.subject === 'baseline' ? ' · the receiver’s ceiling' : r.ratio === undefined ? '' : ` · aegisbpf ${r.ratio.toFixed(2)}×`}</text>`,
      );
      y += bar + 6;
    }
    y += 10;
  }
  const ticks: string[] = [];
  // A round step (1, 2 or 5 × 10^k) giving at most 7 gridlines.
  const magnitude = 10 ** Math.floor(Math.log10(max / 6));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => max / s <= 7) ?? 10 * magnitude;
  for (let v = 0; v <= max; v += step)
    ticks.push(
      `<line x1="${x(v).toFixed(1)}" x2="${x(v).toFixed(1)}" y1="48" y2="${y}" stroke="#e0e0e0"/>`,
      `<text x="${x(v).toFixed(1)}" y="${y + 14}" text-anchor="middle" fill="#616161">${fmt(v)}</text>`,
    );
  const height = y + 40;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="8" y="20" font-size="15" font-weight="bold">aegisbpf and its peers: events/s end to end (median, min–max), same run</text>`,
    `<text x="8" y="38" fill="#616161">${esc(subtitle)}</text>`,
    ...ticks,
    ...parts,
    `<text x="${left}" y="${y + 32}" fill="#616161">events/s (higher is better); each subject on core 0, the receiver on core 1</text>`,
    '</svg>',
    '',
  ].join('\n');
}

const BEGIN = '<!-- peers:begin (generated by node dist/bench/peers.js --write-docs; edit bench/peers/report.ts) -->';
const END = '<!-- peers:end -->';

/** Replace the generated section of docs/benchmarks.md (appended at the end the first time). */
export function writeDocsSection(docPath: string, section: string): void {
  const text = fs.readFileSync(docPath, 'utf8');
  const begin = text.indexOf('<!-- peers:begin');
  const end = text.indexOf(END);
  const block = `${BEGIN}\n${section.trim()}\n${END}`;
  const next =
    begin >= 0 && end > begin
      ? text.slice(0, begin) + block + text.slice(end + END.length)
      : `${text.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(docPath, next);
}
