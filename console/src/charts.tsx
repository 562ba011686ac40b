// Charts (Chart.js on a canvas) with their numbers as a table beside them: the canvas is an
// image with a summary for screen readers, the table is the data for everyone.

import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from 'chart.js';
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Tooltip, Legend);
Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
Chart.defaults.color = '#374151';
Chart.defaults.animation = false;

/** Distinguishable on white, dark enough for thin bars (WCAG non-text contrast ≥ 3:1). */
export const PALETTE = ['#1d4ed8', '#b45309', '#047857', '#7c3aed', '#be123c', '#0e7490', '#4d7c0f', '#a21caf'];

export interface Series {
  label: string;
  values: number[];
}

export function StackedBars(props: {
  title: string;
  summary: string;
  labels: string[];
  series: Series[];
  format: (n: number) => string;
  table?: ComponentChildren;
}) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    const config: ChartConfiguration<'bar'> = {
      type: 'bar',
      data: {
        labels: props.labels,
        datasets: props.series.map((s, i) => ({
          label: s.label,
          data: s.values,
          backgroundColor: PALETTE[i % PALETTE.length],
          borderWidth: 0,
          maxBarThickness: 48,
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { stacked: true, grid: { display: false } },
          y: { stacked: true, beginAtZero: true, ticks: { callback: (v) => props.format(Number(v)) } },
        },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${props.format(Number(c.raw))}` } },
        },
      },
    };
    const chart = new Chart(ref.current, config);
    return () => chart.destroy();
  }, [JSON.stringify([props.labels, props.series])]);
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div class="chart-box">
        <canvas ref={ref} role="img" aria-label={`${props.title}: ${props.summary}`} />
      </div>
      {props.table && (
        <details class="chart-data">
          <summary>Show the numbers</summary>
          {props.table}
        </details>
      )}
    </figure>
  );
}

export function LatencyLine(props: { title: string; summary: string; points: { at: string; ms: number; ok: boolean }[] }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    const pts = [...props.points].reverse();
    const chart = new Chart(ref.current, {
      type: 'line',
      data: {
        labels: pts.map((p) => new Date(p.at).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' })),
        datasets: [
          {
            label: 'Probe latency (ms)',
            data: pts.map((p) => p.ms),
            borderColor: PALETTE[0],
            backgroundColor: PALETTE[0],
            pointBackgroundColor: pts.map((p) => (p.ok ? '#047857' : '#b91c1c')),
            pointStyle: pts.map((p) => (p.ok ? 'circle' : 'crossRot')),
            pointRadius: pts.map((p) => (p.ok ? 3 : 6)),
            borderWidth: 2,
            tension: 0,
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, title: { display: true, text: 'ms' } }, x: { ticks: { maxTicksLimit: 8 } } },
        plugins: { legend: { display: false } },
      },
    });
    return () => chart.destroy();
  }, [JSON.stringify(props.points)]);
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div class="chart-box">
        <canvas ref={ref} role="img" aria-label={`${props.title}: ${props.summary}`} />
      </div>
    </figure>
  );
}

/** Days from `first` to `last` (YYYY-MM-DD, UTC), every day present even without data. */
export function dayRange(days: number, today = new Date()): string[] {
  const out: string[] = [];
  for (let i = days - 1; i >= 0; i--) {
    const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i));
    out.push(d.toISOString().slice(0, 10));
  }
  return out;
}

/** Rows keyed by day and a series name → one series per name over `labels`. */
export function pivot<R>(rows: R[], labels: string[], day: (r: R) => string, name: (r: R) => string, value: (r: R) => number): Series[] {
  const by = new Map<string, number[]>();
  for (const r of rows) {
    const i = labels.indexOf(day(r));
    if (i < 0) continue;
    const k = name(r);
    if (!by.has(k)) by.set(k, labels.map(() => 0));
    by.get(k)![i] += value(r);
  }
  return [...by.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([label, values]) => ({ label, values }));
}
