// Attribution rules in the order they are tried (the first match wins), with add,
// edit and delete for admins and a "test a match" box for everyone.
import { useState } from "preact/hooks";
import { api, describe, ok, type Schemas } from "../../api/client";
import { useLive } from "../../context";
import { dayEnd, dayStart, units } from "../../format";
import { useResource } from "../../ui/hooks";
import { Modal } from "../../ui/modal";
import { ErrorNote, TableRegion } from "../../ui/parts";
import { unitName, type BusinessUnit, type SubTabProps } from "./index";

type Rule = Schemas["RuleOut"];
type Match = Schemas["RuleTestOut"];

export function Rules({ units: businessUnits, reloadUnits }: SubTabProps) {
  const live = useLive();
  const rules = useResource(() => ok(api.GET("/api/v1/attribution/rules")), [live.tick]);
  const [editing, setEditing] = useState<Rule | "new" | null>(null);
  const [deleting, setDeleting] = useState<Rule | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const changed = () => {
    rules.reload();
    reloadUnits();
  };
  const remove = async (rule: Rule) => {
    try {
      await ok(api.DELETE("/api/v1/attribution/rules/{rule_id}", { params: { path: { rule_id: rule.rule_id } } }));
      setDeleting(null);
      changed();
    } catch (error) {
      setProblem(describe(error));
    }
  };
  return (
    <>
      <section class="card" aria-labelledby="rules-heading">
        <div class="section-head">
          <h2 id="rules-heading">Rules, in evaluation order</h2>
          {live.isAdmin && (
            <button type="button" class="primary" disabled={businessUnits.length === 0} onClick={() => setEditing("new")}>
              Add rule
            </button>
          )}
        </div>
        <p class="sub">
          A new record goes to the business unit of the first rule that matches its extension and
          account. Higher priority first; on a tie the more specific pattern, then the older rule.
        </p>
        <ErrorNote message={rules.error} />
        {rules.data && (
          <TableRegion label="Rules">
            <table class="data" data-testid="rules-table">
              <thead>
                <tr>
                  <th scope="col" class="num">
                    #
                  </th>
                  <th scope="col">Extension</th>
                  <th scope="col">Account</th>
                  <th scope="col">Business unit</th>
                  <th scope="col" class="num">
                    Priority
                  </th>
                  <th scope="col">Description</th>
                  {live.isAdmin && (
                    <th scope="col">
                      <span class="visually-hidden">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {rules.data.map((rule, i) => (
                  <tr key={rule.rule_id} data-rule={rule.rule_id}>
                    <td class="num">{rule.position ?? i + 1}</td>
                    <td>
                      <code>{rule.extension_pattern}</code>
                    </td>
                    <td>
                      <code>{rule.account_pattern}</code>
                    </td>
                    <td>{unitName(businessUnits, rule.business_unit_id)}</td>
                    <td class="num">{rule.priority}</td>
                    <td>
                      {rule.description}
                      <div class="sub">version {rule.version}</div>
                    </td>
                    {live.isAdmin && (
                      <td class="nowrap">
                        <button type="button" class="secondary small" aria-label={`Edit rule ${i + 1}`} onClick={() => setEditing(rule)}>
                          Edit
                        </button>{" "}
                        <button
                          type="button"
                          class="danger-outline"
                          aria-label={`Delete rule ${i + 1}`}
                          onClick={() => {
                            setProblem(null);
                            setDeleting(rule);
                          }}
                        >
                          Delete
                        </button>
                      </td>
                    )}
                  </tr>
                ))}
                {rules.data.length === 0 && (
                  <tr>
                    <td colSpan={7}>No rules: new records stay Unattributed unless assigned by hand.</td>
                  </tr>
                )}
              </tbody>
            </table>
          </TableRegion>
        )}
      </section>
      <MatchTest units={businessUnits} />
      <Reapply units={businessUnits} onApplied={changed} />
      <Modal drawer open={editing !== null} title={editing === "new" ? "Add rule" : "Edit rule"} onClose={() => setEditing(null)}>
        {editing !== null && (
          <RuleForm
            rule={editing === "new" ? null : editing}
            units={businessUnits}
            onSaved={() => {
              setEditing(null);
              changed();
            }}
          />
        )}
      </Modal>
      <Modal open={deleting !== null} title="Delete this rule?" onClose={() => setDeleting(null)}>
        {deleting && (
          <>
            <p>
              Records written from now on no longer match{" "}
              <code>
                {deleting.extension_pattern} / {deleting.account_pattern}
              </code>
              . Records it already attributed keep their business unit.
            </p>
            <ErrorNote message={problem} />
            <div class="actions end">
              <button type="button" class="secondary" onClick={() => setDeleting(null)}>
                Cancel
              </button>
              <button type="button" class="danger" onClick={() => void remove(deleting)}>
                Delete rule
              </button>
            </div>
          </>
        )}
      </Modal>
    </>
  );
}

function RuleForm(props: { rule: Rule | null; units: BusinessUnit[]; onSaved: () => void }) {
  const { rule } = props;
  const [draft, setDraft] = useState({
    extension_pattern: rule?.extension_pattern ?? "*",
    account_pattern: rule?.account_pattern ?? "*",
    business_unit_id: rule?.business_unit_id ?? props.units[0]?.business_unit_id ?? "",
    priority: String(rule?.priority ?? 0),
    description: rule?.description ?? "",
  });
  const [problem, setProblem] = useState<string | null>(null);
  const set = (key: keyof typeof draft) => (e: Event) =>
    setDraft({ ...draft, [key]: (e.currentTarget as HTMLInputElement).value });
  const submit = async (event: Event) => {
    event.preventDefault();
    const body = {
      extension_pattern: draft.extension_pattern.trim() || "*",
      account_pattern: draft.account_pattern.trim() || "*",
      business_unit_id: draft.business_unit_id,
      priority: Number.parseInt(draft.priority, 10) || 0,
      description: draft.description.trim(),
    };
    try {
      if (rule) {
        await ok(api.PATCH("/api/v1/attribution/rules/{rule_id}", { params: { path: { rule_id: rule.rule_id } }, body }));
      } else {
        await ok(api.POST("/api/v1/attribution/rules", { body }));
      }
      props.onSaved();
    } catch (error) {
      setProblem(describe(error));
    }
  };
  return (
    <form class="form" onSubmit={submit}>
      <label>
        Extension pattern <span class="muted">(a name or a glob; * for any)</span>
        <input required maxLength={128} value={draft.extension_pattern} onInput={set("extension_pattern")} />
      </label>
      <label>
        Account pattern
        <input required maxLength={128} value={draft.account_pattern} onInput={set("account_pattern")} placeholder="*@finance" />
      </label>
      <label>
        Business unit
        <select value={draft.business_unit_id} onChange={set("business_unit_id")}>
          {props.units.map((u) => (
            <option key={u.business_unit_id} value={u.business_unit_id}>
              {u.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Priority <span class="muted">(higher wins)</span>
        <input type="number" step={1} value={draft.priority} onInput={set("priority")} />
      </label>
      <label>
        Description
        <textarea rows={2} maxLength={2000} value={draft.description} onInput={set("description")} />
      </label>
      {rule && <p class="hint">Editing makes a new version; past records keep theirs until rules are re-applied.</p>}
      <ErrorNote message={problem} />
      <div class="actions">
        <button type="submit" class="primary">
          {rule ? "Save rule" : "Add rule"}
        </button>
      </div>
    </form>
  );
}

function MatchTest({ units: businessUnits }: { units: BusinessUnit[] }) {
  const [extension, setExtension] = useState("");
  const [account, setAccount] = useState("");
  const [match, setMatch] = useState<Match | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    setProblem(null);
    try {
      setMatch(
        await ok(
          api.GET("/api/v1/attribution/rules/test", {
            params: { query: { extension_id: extension.trim(), ...(account.trim() ? { account: account.trim() } : {}) } },
          }),
        ),
      );
    } catch (error) {
      setMatch(null);
      setProblem(describe(error));
    }
  };
  return (
    <section class="card" aria-labelledby="match-heading">
      <h2 id="match-heading">Test a match</h2>
      <form class="filters" onSubmit={submit}>
        <label>
          Extension
          <input required value={extension} onInput={(e) => setExtension(e.currentTarget.value)} placeholder="oracle-cdc" />
        </label>
        <label>
          Account
          <input value={account} onInput={(e) => setAccount(e.currentTarget.value)} placeholder="svc-etl@finance" />
        </label>
        <button type="submit" class="secondary">
          Test
        </button>
      </form>
      <ErrorNote message={problem} />
      {match && (
        <div class="match" role="status" data-testid="match-result">
          <p>
            <strong>{unitName(businessUnits, match.business_unit_id)}</strong> — {match.explanation}
          </p>
        </div>
      )}
    </section>
  );
}

type Reattribution = Schemas["ReattributionOut"];

/** Re-attributes past records with today's rules: a preview first, then (admins) apply. */
export function Reapply({ units: businessUnits, onApplied }: { units: BusinessUnit[]; onApplied: () => void }) {
  const live = useLive();
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [preview, setPreview] = useState<Reattribution | null>(null);
  const [applied, setApplied] = useState<Reattribution | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const run = async (dryRun: boolean) => {
    setProblem(null);
    try {
      const result = await ok(
        api.POST("/api/v1/attribution/reapply", {
          body: { start: dayStart(from), end: dayEnd(to), dry_run: dryRun },
        }),
      );
      if (dryRun) {
        setPreview(result);
        setApplied(null);
      } else {
        setApplied(result);
        setPreview(null);
        onApplied();
        live.refresh();
      }
    } catch (error) {
      setProblem(describe(error));
    }
  };
  const shown = applied ?? preview;
  return (
    <section class="card" aria-labelledby="reapply-heading">
      <h2 id="reapply-heading">Re-apply rules to past records</h2>
      <p class="sub">
        Rules attribute records when they are written. To charge older records by today's rules,
        preview the change for a period, then apply it. Manual attributions are never overwritten.
      </p>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void run(true);
        }}
      >
        <label>
          From
          <input type="date" required value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          To
          <input type="date" required value={to} onChange={(e) => setTo(e.currentTarget.value)} />
        </label>
        <button type="submit" class="secondary">
          Preview
        </button>
        {live.isAdmin && preview && preview.changed > 0 && (
          <button type="button" class="primary" onClick={() => void run(false)}>
            Apply to {preview.changed} records
          </button>
        )}
      </form>
      <ErrorNote message={problem} />
      {shown && (
        <div role="status" data-testid="reapply-result">
          <p>
            {applied ? "Applied" : "Preview"}: {shown.matched} records in the period, {shown.changed}{" "}
            {applied ? "changed" : "would change"}, {units(shown.units_moved)} units{" "}
            {applied ? "moved" : "would move"}.
          </p>
          {shown.moves.length > 0 && (
            <TableRegion label="Moves">
              <table class="data">
                <thead>
                  <tr>
                    <th scope="col">From</th>
                    <th scope="col">To</th>
                    <th scope="col" class="num">
                      Records
                    </th>
                    <th scope="col" class="num">
                      Units
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {shown.moves.map((m, i) => (
                    <tr key={i}>
                      <td>{unitName(businessUnits, m.from)}</td>
                      <td>{unitName(businessUnits, m.to)}</td>
                      <td class="num">{m.records}</td>
                      <td class="num">{units(m.units)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableRegion>
          )}
        </div>
      )}
    </section>
  );
}
