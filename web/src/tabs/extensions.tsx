// Licensing → Extensions: who consumes the capacity, per extension and per dimension,
// and why a disabled extension is disabled (with its quarantined reports).
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, describe, ok, type ExtensionRuntime, type QuarantineItem, type Summary } from "../api/client";
import { useLive } from "../context";
import { dateTime, percent, quantity, relative, units } from "../format";
import { href } from "../route";
import { Chart, type ChartOption } from "../ui/chart";
import { sortRows, useEvery, useMedia, useResource, useSort } from "../ui/hooks";
import { ErrorNote, SortHeader, StatePill, TableRegion, asState } from "../ui/parts";

/** Wide enough for the pie beside the table; below this it is not drawn at all. */
export const WIDE = "(min-width: 64rem)";

const PALETTE = ["#1d4ed8", "#0f766e", "#b45309", "#7c3aed", "#be185d", "#4d7c0f", "#0369a1", "#a16207"];

/** Heartbeats are not on the enforcement stream: look at connections this often. */
const CONNECTION_POLL_MS = 5_000;

export function ExtensionsTab({ rest }: { rest: string[] }) {
  const live = useLive();
  const beat = useEvery(CONNECTION_POLL_MS);
  const extensions = useResource(() => ok(api.GET("/api/v1/extensions")), [live.tick, beat]);
  const summary = useResource(() => ok(api.GET("/api/v1/usage/summary")), [live.tick]);
  const held = useResource(
    () => ok(api.GET("/api/v1/quarantine", { params: { query: { status: "held" } } })),
    [live.tick],
  );
  const [selected, setSelected] = useState<string | null>(null);
  const wide = useMedia(WIDE);
  const quarantineFor = rest[0] === "quarantine" ? (rest[1] ?? null) : null;
  const toggle = (id: string) => setSelected((current) => (current === id ? null : id));

  return (
    <div class="stack">
      <section class="card" aria-labelledby="extensions-heading">
        <h2 id="extensions-heading">Extensions</h2>
        <p class="sub">
          Units used in the current license period. Choose an extension to see its dimensions.
        </p>
        <ErrorNote message={extensions.error ?? summary.error} />
        {extensions.data && (
          <div class={wide ? "split" : undefined}>
            <ExtensionTable
              rows={extensions.data}
              held={held.data ?? []}
              selected={selected}
              onSelect={toggle}
            />
            {wide && <SharePie rows={extensions.data} selected={selected} onSelect={toggle} />}
          </div>
        )}
      </section>
      {summary.data && (
        <Dimensions summary={summary.data} selected={selected} onClear={() => setSelected(null)} />
      )}
      <Quarantine items={held.data} error={held.error} extension={quarantineFor} onReplayed={held.reload} />
    </div>
  );
}

type Column = "extension" | "state" | "connection" | "units" | "share" | "last";

function ExtensionTable(props: {
  rows: ExtensionRuntime[];
  held: QuarantineItem[];
  selected: string | null;
  onSelect: (id: string) => void;
}) {
  const sort = useSort<Column>("units");
  const rows = sortRows(props.rows, sort, (row, key) => {
    switch (key) {
      case "extension":
        return row.extension_id;
      case "state":
        return row.state;
      case "connection":
        return row.connection;
      case "units":
        return row.units;
      case "share":
        return row.share;
      case "last":
        return row.last_report_at;
    }
  });
  const heldBy = (id: string) => props.held.filter((q) => q.extension_id === id).length;
  return (
    <TableRegion label="Extensions">
      <table class="data selectable" data-testid="extensions-table">
        <thead>
          <tr>
            <SortHeader sort={sort} column="extension">
              Extension
            </SortHeader>
            <SortHeader sort={sort} column="state">
              Status
            </SortHeader>
            <SortHeader sort={sort} column="connection">
              Connection
            </SortHeader>
            <SortHeader sort={sort} column="units" numeric>
              Units
            </SortHeader>
            <SortHeader sort={sort} column="share" numeric>
              Share
            </SortHeader>
            <SortHeader sort={sort} column="last">
              Last report
            </SortHeader>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => {
            const chosen = props.selected === row.extension_id;
            const count = heldBy(row.extension_id);
            return (
              <tr
                key={row.extension_id}
                data-extension={row.extension_id}
                class={chosen ? "chosen" : undefined}
                onClick={() => props.onSelect(row.extension_id)}
              >
                <th scope="row">
                  <button
                    type="button"
                    class="row-pick"
                    aria-pressed={chosen}
                    onClick={(e) => {
                      e.stopPropagation();
                      props.onSelect(row.extension_id);
                    }}
                  >
                    {row.extension_id}
                  </button>
                  {row.state === "DISABLED" && (
                    <p class="why">
                      Reports {row.uncovered_dimensions.join(", ")}, which no valid license covers.{" "}
                      <a href={href("extensions", "quarantine", row.extension_id)} onClick={(e) => e.stopPropagation()}>
                        {count === 1 ? "1 quarantined report" : `${count} quarantined reports`}
                      </a>
                    </p>
                  )}
                </th>
                <td>
                  <StatePill state={asState(row.state)} />
                </td>
                <td>
                  <Connection row={row} />
                </td>
                <td class="num">{units(row.units)}</td>
                <td class="num">{percent(row.share)}</td>
                <td class="nowrap" title={dateTime(row.last_report_at)}>
                  {relative(row.last_report_at)}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </TableRegion>
  );
}

/** Connected (with the worst instance health when not OK) or Inactive, from heartbeats. */
function Connection({ row }: { row: ExtensionRuntime }) {
  if (row.connection === "inactive") {
    const since = row.last_heartbeat_at ? `last heartbeat ${relative(row.last_heartbeat_at)}` : "no heartbeat seen";
    return (
      <span class="pill tone-muted" title={since}>
        Inactive
      </span>
    );
  }
  const count = row.instances.length;
  const detail = `${count} instance${count === 1 ? "" : "s"}, last heartbeat ${relative(row.last_heartbeat_at)}`;
  const tone = row.health === "ERROR" ? "danger" : row.health === "WARNING" ? "warning" : "ok";
  return (
    <span class={`pill tone-${tone}`} title={detail}>
      Connected{row.health && row.health !== "OK" ? ` · ${row.health === "ERROR" ? "Error" : "Warning"}` : ""}
    </span>
  );
}

function SharePie(props: { rows: ExtensionRuntime[]; selected: string | null; onSelect: (id: string) => void }) {
  const slices = props.rows.filter((e) => e.units > 0);
  const option: ChartOption = useMemo(
    () => ({
      animation: false,
      color: PALETTE,
      tooltip: {
        trigger: "item",
        formatter: (params) => {
          const item = Array.isArray(params) ? params[0] : params;
          if (!item) return "";
          const value = typeof item.value === "number" ? item.value : 0;
          return `${item.name}: ${units(value)} units (${percent((item.percent ?? 0) / 100)})`;
        },
      },
      series: [
        {
          name: "Share of units",
          type: "pie",
          radius: ["38%", "70%"],
          center: ["50%", "50%"],
          selectedMode: "single",
          selectedOffset: 8,
          label: { formatter: "{b}", color: "#374151" },
          data: slices.map((e) => ({
            name: e.extension_id,
            value: Math.round(e.units * 100) / 100,
            selected: e.extension_id === props.selected,
          })),
        },
      ],
    }),
    [props.rows, props.selected],
  );
  const label = `Share of units by extension: ${slices
    .map((e) => `${e.extension_id} ${percent(e.share)}`)
    .join(", ")}. Choose an extension in the table for the same filter.`;
  return (
    <div class="pie-panel" data-testid="share-pie">
      <h3>Share of units</h3>
      <Chart option={option} label={label} class="chart chart-pie" onItemClick={props.onSelect} />
    </div>
  );
}

type DimColumn = "extension" | "dimension" | "value" | "units";

function Dimensions(props: { summary: Summary; selected: string | null; onClear: () => void }) {
  const sort = useSort<DimColumn>("units");
  const shown = props.summary.dimensions.filter(
    (d) => props.selected === null || d.extension_id === props.selected,
  );
  const rows = sortRows(shown, sort, (row, key) =>
    key === "extension" ? row.extension_id : key === "dimension" ? row.dimension : key === "value" ? row.value : row.units,
  );
  return (
    <section class="card" aria-labelledby="dimensions-heading">
      <div class="section-head">
        <h2 id="dimensions-heading">
          Dimension breakdown
          {props.selected && <span class="filter-name"> · {props.selected}</span>}
        </h2>
        {props.selected && (
          <button type="button" class="chip" onClick={props.onClear}>
            Show all extensions <span aria-hidden="true">✕</span>
          </button>
        )}
      </div>
      <TableRegion label="Dimension breakdown">
        <table class="data" data-testid="dimensions-table">
          <thead>
            <tr>
              <SortHeader sort={sort} column="extension">
                Extension
              </SortHeader>
              <SortHeader sort={sort} column="dimension">
                Dimension
              </SortHeader>
              <SortHeader sort={sort} column="value" numeric>
                Reported
              </SortHeader>
              <SortHeader sort={sort} column="units" numeric>
                Units
              </SortHeader>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={`${row.extension_id}/${row.dimension}`} data-extension={row.extension_id}>
                <td>{row.extension_id}</td>
                <td>
                  <code>{row.dimension}</code>
                </td>
                <td class="num">{quantity(row.value)}</td>
                <td class="num">{units(row.units)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableRegion>
    </section>
  );
}

function Quarantine(props: {
  items: QuarantineItem[] | undefined;
  error: string | null;
  extension: string | null;
  onReplayed: () => void;
}) {
  const live = useLive();
  const heading = useRef<HTMLHeadingElement>(null);
  const [outcome, setOutcome] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (props.extension !== null || window.location.hash.includes("quarantine")) {
      heading.current?.scrollIntoView({ block: "start" });
      heading.current?.focus();
    }
  }, [props.extension]);
  const items = (props.items ?? []).filter((q) => props.extension === null || q.extension_id === props.extension);
  if (props.items && props.items.length === 0 && props.extension === null) return null;
  const replay = async () => {
    setBusy(true);
    try {
      const body = props.extension === null ? {} : { extension_id: props.extension };
      const result = await ok(api.POST("/api/v1/quarantine/replay", { body }));
      setOutcome(`${result.replayed} replayed, ${result.still_held} still held (no license covers them yet).`);
      props.onReplayed();
      live.refresh();
    } catch (error) {
      setOutcome(describe(error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card" id="quarantine" aria-labelledby="quarantine-heading">
      <div class="section-head">
        <h2 id="quarantine-heading" ref={heading} tabIndex={-1}>
          Quarantined reports
          {props.extension && <span class="filter-name"> · {props.extension}</span>}
        </h2>
        <div class="actions">
          {props.extension && (
            <a class="chip" href={href("extensions", "quarantine")}>
              Show all extensions <span aria-hidden="true">✕</span>
            </a>
          )}
          {live.isAdmin && items.length > 0 && (
            <button type="button" class="secondary" disabled={busy} onClick={replay}>
              Replay now
            </button>
          )}
        </div>
      </div>
      <p class="sub">
        Reports with a dimension no valid license covers are not counted; they are kept here and
        can be replayed once a license covers them.
      </p>
      {outcome && (
        <p class="note" role="status">
          {outcome}
        </p>
      )}
      <ErrorNote message={props.error} />
      <TableRegion label="Quarantined reports">
        <table class="data" data-testid="quarantine-table">
          <thead>
            <tr>
              <th scope="col">Extension</th>
              <th scope="col">Account</th>
              <th scope="col">Received</th>
              <th scope="col">Dimensions</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {items.map((q) => (
              <tr key={q.quarantine_id}>
                <td>{q.extension_id}</td>
                <td>{q.account}</td>
                <td>{dateTime(q.received_at)}</td>
                <td>
                  {Object.entries(q.dimensions).map(([name, value]) => (
                    <div key={name}>
                      <code>{name}</code> {quantity(value)}
                    </div>
                  ))}
                </td>
                <td>{q.reason}</td>
              </tr>
            ))}
            {items.length === 0 && (
              <tr>
                <td colSpan={5}>No held reports.</td>
              </tr>
            )}
          </tbody>
        </table>
      </TableRegion>
    </section>
  );
}
