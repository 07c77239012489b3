// Usage records, filterable, with their business unit and how it was attributed;
// admins select one or many (or every matching record) and assign them to a unit.
import { useEffect, useState } from "preact/hooks";
import { api, describe, ok, type Schemas } from "../../api/client";
import { useLive } from "../../context";
import { dateTime, units } from "../../format";
import { Modal } from "../../ui/modal";
import { ErrorNote, TableRegion } from "../../ui/parts";
import { unitName, type SubTabProps } from "./index";

type UsageRecord = Schemas["UsageRecordOut"];
type Outcome = Schemas["ReattributionOut"];

interface Filters {
  extension: string;
  account: string;
  /** "", "unattributed" or a business unit id. */
  businessUnit: string;
}

const PAGE = 50;

function recordQuery(f: Filters, cursor: number | null) {
  return {
    limit: PAGE,
    ...(cursor !== null ? { cursor } : {}),
    ...(f.extension ? { extension_id: f.extension } : {}),
    ...(f.account ? { account: f.account } : {}),
    ...(f.businessUnit === "unattributed"
      ? { unattributed: true }
      : f.businessUnit
        ? { business_unit_id: f.businessUnit }
        : {}),
  };
}

/** The same filters as a selection for manual attribution ("every matching record"). */
function selectionOf(f: Filters) {
  return {
    unattributed: f.businessUnit === "unattributed",
    ...(f.extension ? { extension_id: f.extension } : {}),
    ...(f.account ? { account: f.account } : {}),
    ...(f.businessUnit && f.businessUnit !== "unattributed" ? { business_unit_id: f.businessUnit } : {}),
  };
}

function MethodPill({ method }: { method: string | null }) {
  if (method === "auto") return <span class="pill tone-neutral">Auto</span>;
  if (method === "manual") return <span class="pill tone-warning">Manual</span>;
  return <span class="visually-hidden">none</span>;
}

export function Records({ units: businessUnits }: SubTabProps) {
  const live = useLive();
  const [filters, setFilters] = useState<Filters>({ extension: "", account: "", businessUnit: "" });
  const [account, setAccount] = useState("");
  const [rows, setRows] = useState<UsageRecord[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [target, setTarget] = useState("");
  const [outcome, setOutcome] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  const [confirming, setConfirming] = useState(false);

  useEffect(() => {
    let current = true;
    ok(api.GET("/api/v1/usage/records", { params: { query: recordQuery(filters, null) } })).then(
      (page) => {
        if (!current) return;
        setRows(page.items);
        setNext(page.next_cursor);
        setError(null);
      },
      (failure: unknown) => current && setError(describe(failure)),
    );
    return () => {
      current = false;
    };
  }, [JSON.stringify(filters), version]);

  const more = async () => {
    try {
      const page = await ok(api.GET("/api/v1/usage/records", { params: { query: recordQuery(filters, next) } }));
      setRows([...rows, ...page.items]);
      setNext(page.next_cursor);
    } catch (failure) {
      setError(describe(failure));
    }
  };

  const toggle = (id: number) => {
    const copy = new Set(selected);
    if (copy.has(id)) copy.delete(id);
    else copy.add(id);
    setSelected(copy);
  };
  const allShown = rows.length > 0 && rows.every((r) => selected.has(r.record_id));

  const act = async (call: Promise<Outcome>, verb: string) => {
    setOutcome(null);
    try {
      const result = await call;
      setOutcome(`${verb} ${result.changed} of ${result.matched} records (${units(result.units_moved)} units moved).`);
      setSelected(new Set());
      setVersion((v) => v + 1);
      live.refresh();
    } catch (failure) {
      setOutcome(describe(failure));
    }
  };
  const assign = (everyMatching: boolean) =>
    act(
      ok(
        api.POST("/api/v1/attribution/manual", {
          body: {
            to_business_unit_id: target,
            ...(everyMatching ? selectionOf(filters) : { record_ids: [...selected], unattributed: false }),
          },
        }),
      ),
      "Assigned",
    );
  const clear = () =>
    act(ok(api.POST("/api/v1/attribution/clear", { body: { record_ids: [...selected], unattributed: false } })), "Returned to rules");

  const extensions = Object.keys(live.enforcement?.extensions ?? {});
  return (
    <section class="card" aria-labelledby="records-heading">
      <h2 id="records-heading">Usage records</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters({ ...filters, account: account.trim() });
        }}
      >
        <label>
          Extension
          <select value={filters.extension} onChange={(e) => setFilters({ ...filters, extension: e.currentTarget.value })}>
            <option value="">All</option>
            {extensions.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </label>
        <label>
          Account
          <input
            type="search"
            value={account}
            placeholder="svc-etl@finance"
            onInput={(e) => setAccount(e.currentTarget.value)}
            onBlur={() => setFilters({ ...filters, account: account.trim() })}
          />
        </label>
        <label>
          Business unit
          <select
            value={filters.businessUnit}
            onChange={(e) => setFilters({ ...filters, businessUnit: e.currentTarget.value })}
          >
            <option value="">Any</option>
            <option value="unattributed">Unattributed</option>
            {businessUnits.map((u) => (
              <option key={u.business_unit_id} value={u.business_unit_id}>
                {u.name}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" class="secondary">
          Filter
        </button>
      </form>
      {live.isAdmin && (
        <div class="action-bar" data-testid="assign-bar">
          <span>{selected.size} selected</span>
          <label>
            Assign to
            <select value={target} onChange={(e) => setTarget(e.currentTarget.value)}>
              <option value="">Choose a business unit…</option>
              {businessUnits.map((u) => (
                <option key={u.business_unit_id} value={u.business_unit_id}>
                  {u.name}
                </option>
              ))}
            </select>
          </label>
          <button type="button" class="primary" disabled={!target || selected.size === 0} onClick={() => void assign(false)}>
            Assign selected
          </button>
          <button type="button" class="secondary" disabled={!target} onClick={() => setConfirming(true)}>
            Assign every matching record
          </button>
          <button type="button" class="secondary" disabled={selected.size === 0} onClick={() => void clear()}>
            Return selected to rules
          </button>
        </div>
      )}
      {outcome && (
        <p class="note" role="status">
          {outcome}
        </p>
      )}
      <ErrorNote message={error} />
      <TableRegion label="Usage records">
        <table class="data" data-testid="records-table">
          <thead>
            <tr>
              {live.isAdmin && (
                <th scope="col">
                  <input
                    type="checkbox"
                    aria-label="Select every record shown"
                    checked={allShown}
                    onChange={() => setSelected(allShown ? new Set() : new Set(rows.map((r) => r.record_id)))}
                  />
                </th>
              )}
              <th scope="col">Time</th>
              <th scope="col">Extension</th>
              <th scope="col">Account</th>
              <th scope="col" class="num">
                Units
              </th>
              <th scope="col">Business unit</th>
              <th scope="col">Method</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.record_id} data-record={r.record_id}>
                {live.isAdmin && (
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Select record ${r.record_id}`}
                      checked={selected.has(r.record_id)}
                      onChange={() => toggle(r.record_id)}
                    />
                  </td>
                )}
                <td class="nowrap">{dateTime(r.occurred_at)}</td>
                <td>{r.extension_id}</td>
                <td>{r.account}</td>
                <td class="num">{units(r.units)}</td>
                <td class={r.business_unit_id ? undefined : "muted"}>{unitName(businessUnits, r.business_unit_id)}</td>
                <td>
                  <MethodPill method={r.attribution_method} />
                </td>
              </tr>
            ))}
            {rows.length === 0 && (
              <tr>
                <td colSpan={7}>No records match.</td>
              </tr>
            )}
          </tbody>
        </table>
      </TableRegion>
      <Modal open={confirming} title="Assign every matching record?" onClose={() => setConfirming(false)}>
        <p>
          Every record matching the filters above — not only the ones shown — is charged to{" "}
          <strong>{unitName(businessUnits, target)}</strong>, overriding rules. The change is audited
          and can be undone with "Return selected to rules".
        </p>
        <div class="actions end">
          <button type="button" class="secondary" onClick={() => setConfirming(false)}>
            Cancel
          </button>
          <button
            type="button"
            class="primary"
            onClick={() => {
              setConfirming(false);
              void assign(true);
            }}
          >
            Assign all
          </button>
        </div>
      </Modal>
      {next !== null && (
        <button type="button" class="secondary more" onClick={() => void more()}>
          Load {PAGE} more
        </button>
      )}
    </section>
  );
}
