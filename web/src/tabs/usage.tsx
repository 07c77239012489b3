// Licensing → Usage: status and capacity cards, usage over time, units by extension.
import { useMemo, useState } from "preact/hooks";
import { api, ok, type Enforcement, type Summary } from "../api/client";
import { useLive } from "../context";
import { date, dateTime, dayEnd, dayStart, percent, units } from "../format";
import { href } from "../route";
import { Chart } from "../ui/chart";
import { sortRows, useResource, useSort } from "../ui/hooks";
import { ErrorNote, SortHeader, StateDot, StatePill, TableRegion, stateTone, stateWord } from "../ui/parts";
import { usageChart } from "./usage-chart";

type Preset = "period" | "30d" | "7d" | "24h" | "custom";

interface Range {
  preset: Preset;
  /** yyyy-mm-dd, for a custom range. */
  from: string;
  to: string;
}

const PRESETS: { id: Preset; label: string; ms?: number }[] = [
  { id: "period", label: "Current period" },
  { id: "30d", label: "30 days", ms: 30 * 86_400_000 },
  { id: "7d", label: "7 days", ms: 7 * 86_400_000 },
  { id: "24h", label: "24 hours", ms: 86_400_000 },
  { id: "custom", label: "Custom" },
];

/** The window to ask the server for; an empty object means the current license period. */
function windowOf(range: Range): { start?: string; end?: string } {
  const preset = PRESETS.find((p) => p.id === range.preset);
  if (preset?.ms) return { start: new Date(Date.now() - preset.ms).toISOString() };
  if (range.preset === "custom" && range.from && range.to) {
    return { start: dayStart(range.from), end: dayEnd(range.to) };
  }
  return {};
}

export function UsageTab() {
  const live = useLive();
  const [range, setRange] = useState<Range>({ preset: "period", from: "", to: "" });
  const span = windowOf(range);
  const key = JSON.stringify([range, live.tick]);
  const series = useResource(
    () => ok(api.GET("/api/v1/usage/timeseries", { params: { query: span } })),
    [key],
  );
  const summary = useResource(
    () => ok(api.GET("/api/v1/usage/summary", { params: { query: span } })),
    [key],
  );
  const chart = useMemo(() => (series.data ? usageChart(series.data) : null), [series.data]);
  return (
    <div class="stack">
      <Cards enforcement={live.enforcement} />
      <section class="card" aria-labelledby="usage-over-time">
        <div class="section-head">
          <h2 id="usage-over-time">Usage over time</h2>
          <RangePicker range={range} onChange={setRange} />
        </div>
        <ErrorNote message={series.error} />
        {chart && (
          <>
            <Chart option={chart.option} label={chart.label} class="chart chart-usage" />
            <ProjectionNote projection={chart.projection} capacity={series.data?.capacity_units ?? 0} />
          </>
        )}
      </section>
      <ExtensionTable summary={summary.data} error={summary.error} />
    </div>
  );
}

function Cards({ enforcement }: { enforcement: Enforcement | null }) {
  if (!enforcement) return <p class="loading">Loading the license state…</p>;
  const e = enforcement;
  const over = e.over_units > 0;
  const ratio = e.available_units > 0 ? e.used_units / e.available_units : null;
  const extensions = Object.entries(e.extensions);
  return (
    <section class="cards" aria-label="License state">
      <article class={`card status-card tone-${stateTone(e.state)}`} data-testid="card-status">
        <h2>Status</h2>
        <p class="big state">{stateWord(e.state)}</p>
        <p class="sub">{e.reason}</p>
        {extensions.length > 0 && (
          <ul class="dots" aria-label="Extensions">
            {extensions.map(([id, ext]) => (
              <li key={id}>
                <a href={href("extensions")} class="dot-link">
                  <StateDot state={ext.state} label={id} />
                </a>
              </li>
            ))}
          </ul>
        )}
      </article>
      <article class="card" data-testid="card-available">
        <h2>Available Units</h2>
        <p class="big">{units(e.available_units)}</p>
        <p class="sub">Capacity of the valid licenses</p>
      </article>
      <article class="card" data-testid="card-used">
        <h2>Units Used</h2>
        <p class="big">{units(e.used_units)}</p>
        <p class="sub">{percent(ratio)} of available</p>
      </article>
      {over ? (
        <article class="card over" data-testid="card-remaining">
          <h2>Units Over</h2>
          <p class="big">{units(e.over_units)}</p>
          <p class="sub">Usage exceeds the licensed pool</p>
        </article>
      ) : (
        <article class="card" data-testid="card-remaining">
          <h2>Units Remaining</h2>
          <p class="big">{units(e.remaining_units)}</p>
          <p class="sub">{percent(ratio === null ? null : Math.max(1 - ratio, 0))} of available</p>
        </article>
      )}
    </section>
  );
}

function RangePicker({ range, onChange }: { range: Range; onChange: (r: Range) => void }) {
  return (
    <div class="range">
      <div class="segmented" role="group" aria-label="Time range">
        {PRESETS.map((p) => (
          <button
            key={p.id}
            type="button"
            aria-pressed={range.preset === p.id}
            onClick={() => onChange({ ...range, preset: p.id })}
          >
            {p.label}
          </button>
        ))}
      </div>
      {range.preset === "custom" && (
        <div class="custom-range">
          <label>
            From
            <input
              type="date"
              value={range.from}
              onChange={(e) => onChange({ ...range, from: e.currentTarget.value })}
            />
          </label>
          <label>
            To
            <input
              type="date"
              value={range.to}
              onChange={(e) => onChange({ ...range, to: e.currentTarget.value })}
            />
          </label>
        </div>
      )}
    </div>
  );
}

function ProjectionNote(props: {
  projection: ReturnType<typeof usageChart>["projection"];
  capacity: number;
}) {
  const p = props.projection;
  let text = "Not enough usage in this range to project when capacity runs out.";
  if (p && props.capacity > 0) {
    if (p.exhaustsAt !== null && p.line.length === 0) {
      text = `Usage passed the enforced limit on ${dateTime(new Date(p.exhaustsAt).toISOString())}.`;
    } else if (p.exhaustsAt !== null) {
      const days = Math.max((p.exhaustsAt - Date.now()) / 86_400_000, 0);
      text =
        `At the recent rate of ${units(p.ratePerDay)} units a day, capacity runs out on ` +
        `${date(new Date(p.exhaustsAt).toISOString())} (in ${units(days)} days).`;
    } else {
      text = "Usage is not growing in this range; capacity does not run out at this rate.";
    }
  }
  return (
    <p class="projection-note" data-testid="projection">
      <span class="swatch projection" aria-hidden="true" /> {text}
    </p>
  );
}

type Column = "extension" | "state" | "units" | "share";

function ExtensionTable({ summary, error }: { summary: Summary | undefined; error: string | null }) {
  const sort = useSort<Column>("units");
  const rows = summary
    ? sortRows(summary.extensions, sort, (row, key) =>
        key === "extension" ? row.extension_id : key === "state" ? row.state : key === "units" ? row.units : row.share,
      )
    : [];
  return (
    <section class="card" aria-labelledby="units-by-extension">
      <h2 id="units-by-extension">Units by extension</h2>
      <ErrorNote message={error} />
      {summary && (
        <TableRegion label="Units by extension">
          <table class="data" data-testid="usage-extensions">
            <thead>
              <tr>
                <SortHeader sort={sort} column="extension">
                  Extension
                </SortHeader>
                <SortHeader sort={sort} column="state">
                  Status
                </SortHeader>
                <SortHeader sort={sort} column="units" numeric>
                  Units
                </SortHeader>
                <SortHeader sort={sort} column="share" numeric>
                  Share
                </SortHeader>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.extension_id} data-extension={row.extension_id}>
                  <th scope="row">{row.extension_id}</th>
                  <td>
                    <StatePill state={row.state} />
                  </td>
                  <td class="num">{units(row.units)}</td>
                  <td class="num">
                    <div class="share">
                      <span class="bar" aria-hidden="true">
                        <span style={{ width: `${Math.min(row.share * 100, 100)}%` }} />
                      </span>
                      {percent(row.share)}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row">Total</th>
                <td />
                <td class="num">{units(summary.window_units)}</td>
                <td class="num">{summary.window_units > 0 ? percent(1) : "—"}</td>
              </tr>
            </tfoot>
          </table>
        </TableRegion>
      )}
    </section>
  );
}
