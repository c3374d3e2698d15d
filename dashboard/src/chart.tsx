import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
}

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];
export function color(i: number): string {
  return PALETTE[i % PALETTE.length] as string;
}

/** A uPlot line chart of per-second values; x is epoch seconds. Resizes with its container. */
export function Chart({ title, xs, series, unit }: { title: string; xs: number[]; series: ChartSeries[]; unit: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => s.label).join('\u0000');

  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200),
      height: 180,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
      axes: [
        { stroke: '#6b7280', grid: { stroke: '#e5e7eb' } },
        { stroke: '#6b7280', grid: { stroke: '#e5e7eb' }, size: 56, values: (_u, vals) => vals.map((v) => `${+v.toFixed(2)}${unit}`) },
      ],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, points: { show: false }, spanGaps: false }))],
    };
    const u = new uPlot(opts, [xs, ...series.map((s) => s.values)] as uPlot.AlignedData, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(el.clientWidth, 200), height: 180 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Rebuilt only when the set of series changes; data updates go through setData below.
  }, [shape]);

  useEffect(() => {
    plot.current?.setData([xs, ...series.map((s) => s.values)] as uPlot.AlignedData);
  });

  const latest = series.map((s) => ({ label: s.label, v: s.values[s.values.length - 1] }));
  return (
    <figure class="card chart">
      <figcaption>{title}</figcaption>
      <div ref={box} class="plot" role="img" aria-label={`${title}, last 15 minutes. Latest: ${latest.map((l) => `${l.label} ${l.v ?? 'none'}${unit}`).join(', ')}`} />
    </figure>
  );
}
