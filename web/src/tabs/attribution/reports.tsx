// Allocation reports: units and cost per business unit, extension, both, or period,
// with soft-quota bars and exports (CSV, FOCUS CSV, JSON, signed).
import { useState } from "preact/hooks";
import { answered, api, describe, ok, type Schemas } from "../../api/client";
import { useLive } from "../../context";
import { date, dayEnd, dayStart, money, percent, units } from "../../format";
import { useResource } from "../../ui/hooks";
import { ErrorNote, TableRegion } from "../../ui/parts";
import type { SubTabProps } from "./index";

type Report = Schemas["AllocationReport"];
type GroupBy = Report["group_by"];
type Bucket = "day" | "week" | "month";
type Format = "csv" | "focus" | "json" | "signed";

interface Filters {
  groupBy: GroupBy;
  bucket: Bucket;
  from: string;
  to: string;
  businessUnit: string;
  extension: string;
}

const GROUPS: { id: GroupBy; label: string }[] = [
  { id: "business_unit", label: "Business unit" },
  { id: "extension", label: "Extension" },
  { id: "business_unit_extension", label: "Business unit and extension" },
  { id: "time", label: "Period" },
];

const EXPORTS: { id: Format; label: string }[] = [
  { id: "csv", label: "CSV" },
  { id: "focus", label: "FOCUS CSV" },
  { id: "json", label: "JSON" },
  { id: "signed", label: "Signed report" },
];

function query(f: Filters) {
  return {
    group_by: f.groupBy,
    ...(f.groupBy === "time" ? { bucket: f.bucket } : {}),
    ...(f.from ? { period_start: dayStart(f.from) } : {}),
    ...(f.to ? { period_end: dayEnd(f.to) } : {}),
    ...(f.businessUnit === "unattributed"
      ? { unattributed: true }
      : f.businessUnit
        ? { business_unit_id: f.businessUnit }
        : {}),
    ...(f.extension ? { extension_id: f.extension } : {}),
  };
}

export function Reports({ units: businessUnits }: SubTabProps) {
  const live = useLive();
  const [filters, setFilters] = useState<Filters>({
    groupBy: "business_unit",
    bucket: "day",
    from: "",
    to: "",
    businessUnit: "",
    extension: "",
  });
  const report = useResource(
    () => ok(api.GET("/api/v1/reports/allocation", { params: { query: query(filters) } })),
    [JSON.stringify(filters), live.tick],
  );
  const set = (change: Partial<Filters>) => setFilters({ ...filters, ...change });
  const extensions = Object.keys(live.enforcement?.extensions ?? {});
  return (
    <section class="card" aria-labelledby="report-heading">
      <div class="section-head">
        <h2 id="report-heading">Allocation report</h2>
        <Exports filters={filters} />
      </div>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Group by
          <select value={filters.groupBy} onChange={(e) => set({ groupBy: e.currentTarget.value as GroupBy })}>
            {GROUPS.map((g) => (
              <option key={g.id} value={g.id}>
                {g.label}
              </option>
            ))}
          </select>
        </label>
        {filters.groupBy === "time" && (
          <label>
            Bucket
            <select value={filters.bucket} onChange={(e) => set({ bucket: e.currentTarget.value as Bucket })}>
              <option value="day">Day</option>
              <option value="week">Week</option>
              <option value="month">Month</option>
            </select>
          </label>
        )}
        <label>
          From
          <input type="date" value={filters.from} onChange={(e) => set({ from: e.currentTarget.value })} />
        </label>
        <label>
          To
          <input type="date" value={filters.to} onChange={(e) => set({ to: e.currentTarget.value })} />
        </label>
        <label>
          Business unit
          <select value={filters.businessUnit} onChange={(e) => set({ businessUnit: e.currentTarget.value })}>
            <option value="">All</option>
            <option value="unattributed">Unattributed</option>
            {businessUnits.map((u) => (
              <option key={u.business_unit_id} value={u.business_unit_id}>
                {u.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Extension
          <select value={filters.extension} onChange={(e) => set({ extension: e.currentTarget.value })}>
            <option value="">All</option>
            {extensions.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ErrorNote message={report.error} />
      {report.data && <ReportView report={report.data} />}
    </section>
  );
}

function ReportView({ report }: { report: Report }) {
  const byUnit = report.group_by === "business_unit" || report.group_by === "business_unit_extension";
  const byExtension = report.group_by === "extension" || report.group_by === "business_unit_extension";
  const byTime = report.group_by === "time";
  const hasQuota = report.rows.some((r) => r.soft_quota_units !== null);
  return (
    <>
      <dl class="facts">
        <div>
          <dt>Period</dt>
          <dd>
            {date(report.period_start)} – {date(report.period_end)}
          </dd>
        </div>
        <div>
          <dt>Units</dt>
          <dd data-testid="report-total-units">{units(report.total_units)}</dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd data-testid="report-total-amount">{money(report.total_amount, report.currency)}</dd>
        </div>
        <div>
          <dt>Cost per unit</dt>
          <dd>{report.cost_per_unit ? money(Number(report.cost_per_unit), report.currency, 4) : "—"}</dd>
        </div>
      </dl>
      {report.notes.map((note) => (
        <p class="hint" key={note}>
          {note}
        </p>
      ))}
      <TableRegion label="Allocation report">
        <table class="data" data-testid="report-table">
          <thead>
            <tr>
              {byUnit && <th scope="col">Business unit</th>}
              {byExtension && <th scope="col">Extension</th>}
              {byTime && <th scope="col">Period</th>}
              <th scope="col" class="num">
                Units
              </th>
              <th scope="col" class="num">
                Share
              </th>
              <th scope="col" class="num">
                Cost
              </th>
              {hasQuota && <th scope="col">Soft quota (month)</th>}
            </tr>
          </thead>
          <tbody>
            {report.rows.map((row, i) => (
              <tr key={i} data-business-unit={row.business_unit_id ?? "unattributed"}>
                {byUnit && (
                  <th scope="row" class={row.business_unit_id ? undefined : "muted"}>
                    {row.business_unit_name ?? "Unattributed"}
                  </th>
                )}
                {byExtension && (byUnit ? <td>{row.extension_id}</td> : <th scope="row">{row.extension_id}</th>)}
                {byTime && <th scope="row">{date(row.bucket_start)}</th>}
                <td class="num">{units(row.units)}</td>
                <td class="num">{percent(row.share)}</td>
                <td class="num">{money(row.amount, report.currency)}</td>
                {hasQuota && (
                  <td>
                    <QuotaBar used={row.units} quota={row.soft_quota_units} ratio={row.quota_used_ratio} />
                  </td>
                )}
              </tr>
            ))}
            {report.rows.length === 0 && (
              <tr>
                <td colSpan={6}>No usage in this period.</td>
              </tr>
            )}
          </tbody>
        </table>
      </TableRegion>
    </>
  );
}

/** How much of a business unit's advisory quota is used; amber from 90 %, red from 100 %. */
export function QuotaBar(props: { used: number; quota: number | null; ratio: number | null }) {
  if (props.quota === null) return <span class="muted">—</span>;
  const ratio = props.ratio ?? (props.quota > 0 ? props.used / props.quota : 0);
  const tone = ratio >= 1 ? "danger" : ratio >= 0.9 ? "warning" : "ok";
  return (
    <span class="quota">
      <span
        class={`quota-bar tone-${tone}`}
        role="meter"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(ratio * 100)}
        aria-label={`${percent(ratio)} of ${units(props.quota)} units`}
      >
        <span style={{ width: `${Math.min(ratio, 1) * 100}%` }} />
      </span>
      <span>
        {percent(ratio)} of {units(props.quota)}
      </span>
    </span>
  );
}

function Exports({ filters }: { filters: Filters }) {
  const [problem, setProblem] = useState<string | null>(null);
  const download = async (format: Format) => {
    setProblem(null);
    try {
      const { data, response } = await answered(
        api.GET("/api/v1/reports/allocation/export", {
          params: { query: { ...query(filters), format } },
          parseAs: "blob",
        }),
      );
      const name =
        /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") ?? "")?.[1] ??
        `unitledger-report.${format === "csv" || format === "focus" ? "csv" : "json"}`;
      const url = URL.createObjectURL(data);
      const link = document.createElement("a");
      link.href = url;
      link.download = name;
      link.click();
      URL.revokeObjectURL(url);
    } catch (error) {
      setProblem(describe(error));
    }
  };
  return (
    <div class="actions" role="group" aria-label="Export">
      <span class="muted">Export</span>
      {EXPORTS.map((e) => (
        <button key={e.id} type="button" class="secondary" onClick={() => void download(e.id)}>
          {e.label}
        </button>
      ))}
      <ErrorNote message={problem} />
    </div>
  );
}
