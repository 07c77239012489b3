// The usage-over-time chart: cumulative units against capacity, with the remaining
// capacity shaded, the warning band (≥ 90 %), the over-the-limit region and a projection.
import type { Timeseries } from "../api/client";
import { units } from "../format";
import { DAY, HOUR, project, type Point, type Projection } from "../projection";
import type { ChartOption } from "../ui/chart";

const BUCKET_MS: Record<string, number> = { hour: HOUR, day: DAY, week: 7 * DAY };

export const COLORS = {
  used: "#1d4ed8",
  remaining: "#15803d",
  warning: "#b45309",
  over: "#b91c1c",
  projection: "#6d28d9",
};

/** Each bucket's cumulative units, placed at the bucket's end (or now, for the current one). */
export function cumulativePoints(series: Timeseries): Point[] {
  const size = BUCKET_MS[series.bucket] ?? DAY;
  const end = series.end ? Date.parse(series.end) : Date.now();
  const points: Point[] = [];
  const first = series.points[0];
  if (first?.t) points.push({ t: Date.parse(first.t), cumulative: first.cumulative - first.units });
  for (const p of series.points) {
    if (!p.t) continue;
    points.push({ t: Math.min(Date.parse(p.t) + size, end), cumulative: p.cumulative });
  }
  return points;
}

export interface UsageChart {
  option: ChartOption;
  projection: Projection | null;
  label: string;
}

export function usageChart(series: Timeseries): UsageChart {
  const points = cumulativePoints(series);
  const capacity = series.capacity_units;
  const warning = series.warning_units;
  const projection = project(points, capacity);
  const start = points[0]?.t ?? Date.now();
  const end = points[points.length - 1]?.t ?? start;
  const span = Math.max(end - start, HOUR);
  // Show the projection up to half a window past the end; the text gives the exact date.
  const horizon = end + span / 2;
  let line = projection?.line ?? [];
  const tip = line[1];
  const base = line[0];
  if (tip && base && tip[0] > horizon) {
    const slope = (tip[1] - base[1]) / (tip[0] - base[0]);
    line = [base, [horizon, base[1] + slope * (horizon - base[0])]];
  }
  const xMax = Math.max(end, ...line.map(([t]) => t));
  const peak = Math.max(0, ...points.map((p) => p.cumulative), ...line.map(([, u]) => u));
  const yMax = niceCeiling(Math.max(capacity * 1.15, peak * 1.05, 1));
  const used = points.map((p) => [p.t, round(p.cumulative)]);
  const remaining = points.map((p) => [p.t, round(Math.max(capacity - p.cumulative, 0))]);
  const last = points[points.length - 1];
  const label =
    `Cumulative units used over time: ${units(last?.cumulative ?? 0)} of ${units(capacity)} ` +
    `available; warning from ${units(warning)}.`;
  const option: ChartOption = {
    animation: false,
    grid: { left: 8, right: 16, top: 48, bottom: 56, containLabel: true },
    legend: { top: 0, left: 0, itemGap: 12, textStyle: { color: "#374151" } },
    tooltip: {
      trigger: "axis",
      valueFormatter: (value) => (typeof value === "number" ? units(value) : String(value)),
    },
    xAxis: { type: "time", min: start, max: xMax, axisLabel: { hideOverlap: true, color: "#4b5563" } },
    yAxis: {
      type: "value",
      min: 0,
      max: yMax,
      axisLabel: { formatter: (value: number) => units(value), color: "#4b5563" },
      splitLine: { lineStyle: { color: "#e5e7eb" } },
    },
    dataZoom: [
      { type: "inside", filterMode: "none" },
      { type: "slider", filterMode: "none", height: 20, bottom: 8, showDetail: false },
    ],
    series: [
      {
        name: "Units used",
        type: "line",
        stack: "capacity",
        data: used,
        showSymbol: false,
        lineStyle: { width: 2, color: COLORS.used },
        itemStyle: { color: COLORS.used },
        areaStyle: { color: COLORS.used, opacity: 0.1 },
        markArea: {
          silent: true,
          data: [
            [
              { name: "Warning ≥ 90 %", yAxis: warning, itemStyle: { color: COLORS.warning, opacity: 0.14 } },
              { yAxis: capacity },
            ],
            [
              { name: "Over the limit", yAxis: capacity, itemStyle: { color: COLORS.over, opacity: 0.12 } },
              { yAxis: yMax },
            ],
          ],
          label: { position: "insideTopLeft", color: "#374151", fontSize: 11 },
        },
        markLine: {
          silent: true,
          symbol: "none",
          data: [
            {
              name: "Enforced limit",
              yAxis: capacity,
              lineStyle: { color: COLORS.over, width: 2, type: "solid" },
              label: { formatter: `Enforced limit ${units(capacity)}`, position: "insideEndTop", color: COLORS.over },
            },
            {
              name: "Warning",
              yAxis: warning,
              lineStyle: { color: COLORS.warning, type: "dashed" },
              label: { formatter: `90 % ${units(warning)}`, position: "insideEndBottom", color: COLORS.warning },
            },
          ],
        },
      },
      {
        name: "Remaining capacity",
        type: "line",
        stack: "capacity",
        data: remaining,
        showSymbol: false,
        lineStyle: { width: 0 },
        itemStyle: { color: COLORS.remaining },
        areaStyle: { color: COLORS.remaining, opacity: 0.16 },
      },
      {
        name: "Projection",
        type: "line",
        data: line.map(([t, u]) => [t, round(u)]),
        showSymbol: false,
        lineStyle: { type: "dashed", width: 2, color: COLORS.projection },
        itemStyle: { color: COLORS.projection },
      },
    ],
  };
  return { option, projection, label };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** A round number at least `value`, so the y-axis top reads well. */
function niceCeiling(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}
