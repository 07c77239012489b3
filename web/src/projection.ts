// When capacity runs out at the recent rate: a straight line fitted to the recent
// cumulative usage, extended until it meets the capacity.

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

export interface Point {
  /** Milliseconds since the epoch. */
  t: number;
  cumulative: number;
}

export interface Projection {
  /** Units per day over the fitted stretch. */
  ratePerDay: number;
  /** When the line reaches capacity; null when usage is not growing. */
  exhaustsAt: number | null;
  /** From the last point to where the line meets capacity (empty when already over). */
  line: [number, number][];
}

/** Least-squares slope (units per millisecond) of cumulative usage against time. */
function slope(points: readonly Point[]): number {
  const n = points.length;
  const meanT = points.reduce((s, p) => s + p.t, 0) / n;
  const meanU = points.reduce((s, p) => s + p.cumulative, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - meanT) * (p.cumulative - meanU);
    den += (p.t - meanT) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * Projects the series forward. The rate is fitted over the last `recentMs` (a quarter of
 * the series' span when that is shorter, so a 24-hour view uses its last 6 hours).
 */
export function project(
  points: readonly Point[],
  capacity: number,
  recentMs: number = 7 * DAY,
): Projection | null {
  const last = points[points.length - 1];
  const first = points[0];
  if (!last || !first || points.length < 2 || capacity <= 0) return null;
  const stretch = Math.min(recentMs, Math.max((last.t - first.t) / 4, 1));
  let recent = points.filter((p) => p.t >= last.t - stretch);
  if (recent.length < 2) recent = points.slice(-2);
  const rate = slope(recent);
  if (last.cumulative >= capacity) {
    const crossed = points.find((p) => p.cumulative >= capacity) ?? last;
    return { ratePerDay: rate * DAY, exhaustsAt: crossed.t, line: [] };
  }
  if (!(rate > 0)) return { ratePerDay: 0, exhaustsAt: null, line: [] };
  const exhaustsAt = last.t + (capacity - last.cumulative) / rate;
  return {
    ratePerDay: rate * DAY,
    exhaustsAt,
    line: [
      [last.t, last.cumulative],
      [exhaustsAt, capacity],
    ],
  };
}
