// Business units: who can be charged. Create and edit in a drawer; delete with a
// confirmation (records stay, shown as Unattributed).
import { useState } from "preact/hooks";
import { api, describe, ok } from "../../api/client";
import { useLive } from "../../context";
import { units } from "../../format";
import { useResource } from "../../ui/hooks";
import { Modal } from "../../ui/modal";
import { ErrorNote, TableRegion } from "../../ui/parts";
import type { BusinessUnit, SubTabProps } from "./index";
import { QuotaBar } from "./reports";

interface Draft {
  name: string;
  business_unit_id: string;
  description: string;
  contact_email: string;
  soft_quota_units: string;
}

const EMPTY: Draft = { name: "", business_unit_id: "", description: "", contact_email: "", soft_quota_units: "" };

export function BusinessUnits({ units: list, reloadUnits }: SubTabProps) {
  const live = useLive();
  const month = useResource(
    () => ok(api.GET("/api/v1/reports/allocation", { params: { query: { group_by: "business_unit" } } })),
    [live.tick],
  );
  const [editing, setEditing] = useState<BusinessUnit | "new" | null>(null);
  const [deleting, setDeleting] = useState<BusinessUnit | null>(null);
  const [outcome, setOutcome] = useState<string | null>(null);
  const usedBy = (id: string) => month.data?.rows.find((r) => r.business_unit_id === id)?.units ?? 0;
  return (
    <section class="card" aria-labelledby="units-heading">
      <div class="section-head">
        <h2 id="units-heading">Business units</h2>
        {live.isAdmin && (
          <button type="button" class="primary" onClick={() => setEditing("new")}>
            New business unit
          </button>
        )}
      </div>
      {outcome && (
        <p class="note" role="status">
          {outcome}
        </p>
      )}
      <TableRegion label="Business units">
        <table class="data" data-testid="units-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Identifier</th>
              <th scope="col">Contact</th>
              <th scope="col" class="num">
                Units this month
              </th>
              <th scope="col">Soft quota</th>
              <th scope="col" class="num">
                Rules
              </th>
              {live.isAdmin && (
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {list.map((u) => (
              <tr key={u.business_unit_id} data-business-unit={u.business_unit_id}>
                <th scope="row">
                  {u.name}
                  {u.description && <div class="sub">{u.description}</div>}
                </th>
                <td>
                  <code>{u.business_unit_id}</code>
                </td>
                <td>{u.contact_email ? <a href={`mailto:${u.contact_email}`}>{u.contact_email}</a> : "—"}</td>
                <td class="num">{units(usedBy(u.business_unit_id))}</td>
                <td>
                  <QuotaBar used={usedBy(u.business_unit_id)} quota={u.soft_quota_units} ratio={null} />
                </td>
                <td class="num">{u.rules}</td>
                {live.isAdmin && (
                  <td class="nowrap">
                    <button type="button" class="secondary small" aria-label={`Edit ${u.name}`} onClick={() => setEditing(u)}>
                      Edit
                    </button>{" "}
                    <button
                      type="button"
                      class="danger-outline"
                      aria-label={`Delete ${u.name}`}
                      onClick={() => setDeleting(u)}
                    >
                      Delete
                    </button>
                  </td>
                )}
              </tr>
            ))}
            {list.length === 0 && (
              <tr>
                <td colSpan={7}>No business units yet: every record is Unattributed.</td>
              </tr>
            )}
          </tbody>
        </table>
      </TableRegion>
      <Modal
        drawer
        open={editing !== null}
        title={editing === "new" ? "New business unit" : `Edit ${editing?.name ?? ""}`}
        onClose={() => setEditing(null)}
      >
        {editing !== null && (
          <UnitForm
            unit={editing === "new" ? null : editing}
            onSaved={(saved) => {
              setEditing(null);
              setOutcome(`Saved ${saved.name}.`);
              reloadUnits();
            }}
          />
        )}
      </Modal>
      <Modal open={deleting !== null} title={`Delete ${deleting?.name ?? ""}?`} onClose={() => setDeleting(null)}>
        {deleting && (
          <DeleteUnit
            unit={deleting}
            onCancel={() => setDeleting(null)}
            onDeleted={(text) => {
              setDeleting(null);
              setOutcome(text);
              reloadUnits();
              live.refresh();
            }}
          />
        )}
      </Modal>
    </section>
  );
}

function UnitForm({ unit, onSaved }: { unit: BusinessUnit | null; onSaved: (u: BusinessUnit) => void }) {
  const [draft, setDraft] = useState<Draft>(
    unit
      ? {
          name: unit.name,
          business_unit_id: unit.business_unit_id,
          description: unit.description,
          contact_email: unit.contact_email ?? "",
          soft_quota_units: unit.soft_quota_units === null ? "" : String(unit.soft_quota_units),
        }
      : EMPTY,
  );
  const [problem, setProblem] = useState<string | null>(null);
  const field = (key: keyof Draft) => ({
    value: draft[key],
    onInput: (e: Event) => setDraft({ ...draft, [key]: (e.currentTarget as HTMLInputElement).value }),
  });
  const submit = async (event: Event) => {
    event.preventDefault();
    setProblem(null);
    const quota = draft.soft_quota_units.trim() === "" ? null : Number(draft.soft_quota_units);
    const common = {
      name: draft.name.trim(),
      description: draft.description.trim(),
      contact_email: draft.contact_email.trim() || null,
      soft_quota_units: quota,
    };
    try {
      const saved = unit
        ? await ok(
            api.PATCH("/api/v1/business-units/{business_unit_id}", {
              params: { path: { business_unit_id: unit.business_unit_id } },
              body: common,
            }),
          )
        : await ok(
            api.POST("/api/v1/business-units", {
              body: { ...common, ...(draft.business_unit_id.trim() ? { business_unit_id: draft.business_unit_id.trim() } : {}) },
            }),
          );
      onSaved(saved);
    } catch (error) {
      setProblem(describe(error));
    }
  };
  return (
    <form class="form" onSubmit={submit}>
      <label>
        Name
        <input required maxLength={200} {...field("name")} />
      </label>
      {!unit && (
        <label>
          Identifier <span class="muted">(optional; made from the name)</span>
          <input maxLength={64} placeholder="finance" {...field("business_unit_id")} />
        </label>
      )}
      <label>
        Description
        <textarea rows={3} maxLength={2000} {...field("description")} />
      </label>
      <label>
        Contact email
        <input type="email" maxLength={254} {...field("contact_email")} />
      </label>
      <label>
        Soft quota, units a month <span class="muted">(advisory: alerts at 90 % and 100 %)</span>
        <input type="number" min={0} step="any" {...field("soft_quota_units")} />
      </label>
      <ErrorNote message={problem} />
      <div class="actions">
        <button type="submit" class="primary">
          {unit ? "Save changes" : "Create business unit"}
        </button>
      </div>
    </form>
  );
}

function DeleteUnit(props: { unit: BusinessUnit; onCancel: () => void; onDeleted: (text: string) => void }) {
  const [problem, setProblem] = useState<string | null>(null);
  const remove = async () => {
    try {
      const result = await ok(
        api.DELETE("/api/v1/business-units/{business_unit_id}", {
          params: { path: { business_unit_id: props.unit.business_unit_id } },
        }),
      );
      props.onDeleted(
        `Deleted ${props.unit.name}: ${result.records_unattributed} records (${units(result.units_unattributed)} units) are now Unattributed; ${result.rules_deleted.length} rules removed.`,
      );
    } catch (error) {
      setProblem(describe(error));
    }
  };
  return (
    <>
      <p>
        Its {props.unit.rules} rules are deleted too. Its records stay in the ledger and show as
        Unattributed until rules or a manual attribution charge them elsewhere.
      </p>
      <ErrorNote message={problem} />
      <div class="actions end">
        <button type="button" class="secondary" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="button" class="danger" onClick={() => void remove()}>
          Delete business unit
        </button>
      </div>
    </>
  );
}
