// Licensing → Licenses: install a signed license file (drag and drop), see every
// license's status and use, revoke one (admins).
import { useRef, useState } from "preact/hooks";
import { api, describe, ok, type License } from "../api/client";
import { useLive } from "../context";
import { date, units } from "../format";
import { ErrorNote, StatusPill, TableRegion } from "../ui/parts";
import { useResource } from "../ui/hooks";

export function LicensesTab() {
  const live = useLive();
  const licenses = useResource(() => ok(api.GET("/api/v1/licenses")), [live.tick]);
  const changed = () => {
    licenses.reload();
    live.refresh();
  };
  return (
    <div class="stack">
      {live.isAdmin && <Upload onInstalled={changed} />}
      <section class="card" aria-labelledby="licenses-heading">
        <h2 id="licenses-heading">Installed licenses</h2>
        <ErrorNote message={licenses.error} />
        {licenses.data && <LicenseTable licenses={licenses.data} onRevoked={changed} />}
      </section>
    </div>
  );
}

type Outcome = { kind: "ok" | "error"; text: string };

function Upload({ onInstalled }: { onInstalled: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [dragging, setDragging] = useState(false);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);

  const install = async (file: File) => {
    setBusy(true);
    setOutcome(null);
    try {
      const text = await file.text();
      // The file goes to the server byte for byte: its signature covers exactly these bytes.
      const installed = await ok(
        api.POST("/api/v1/licenses", {
          body: {},
          bodySerializer: () => text,
          headers: { "Content-Type": "application/json" },
        }),
      );
      setOutcome({
        kind: "ok",
        text: `Installed ${installed.license_id} for ${installed.customer}: ${units(installed.capacity_units)} units, ${installed.status.toLowerCase()}.`,
      });
      onInstalled();
    } catch (error) {
      setOutcome({ kind: "error", text: `${file.name} was not installed: ${describe(error)}` });
    } finally {
      setBusy(false);
      if (input.current) input.current.value = "";
    }
  };

  return (
    <section class="card" aria-labelledby="upload-heading">
      <h2 id="upload-heading">Install a license</h2>
      <div
        class={`dropzone${dragging ? " dragging" : ""}`}
        data-testid="dropzone"
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          const file = e.dataTransfer?.files[0];
          if (file) void install(file);
        }}
      >
        <p>Drop a signed license file here, or</p>
        <button type="button" class="secondary" disabled={busy} onClick={() => input.current?.click()}>
          Choose a file…
        </button>
        <input
          ref={input}
          type="file"
          accept=".json,.lic,application/json"
          hidden
          data-testid="license-file"
          onChange={(e) => {
            const file = e.currentTarget.files?.[0];
            if (file) void install(file);
          }}
        />
        <p class="hint">
          The server checks the vendor's signature and that the license was issued for this
          deployment; nothing is installed when a check fails.
        </p>
      </div>
      {busy && <p role="status">Installing…</p>}
      {outcome && (
        <p class={outcome.kind === "ok" ? "note" : "error-note"} role={outcome.kind === "ok" ? "status" : "alert"} data-testid="upload-outcome">
          {outcome.text}
        </p>
      )}
    </section>
  );
}

function LicenseTable({ licenses, onRevoked }: { licenses: License[]; onRevoked: () => void }) {
  const live = useLive();
  const dialog = useRef<HTMLDialogElement>(null);
  const [target, setTarget] = useState<License | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  const ask = (license: License) => {
    setTarget(license);
    setProblem(null);
    dialog.current?.showModal();
  };
  const revoke = async () => {
    if (!target) return;
    try {
      await ok(
        api.POST("/api/v1/licenses/{license_id}/revoke", {
          params: { path: { license_id: target.license_id } },
        }),
      );
      dialog.current?.close();
      onRevoked();
    } catch (error) {
      setProblem(describe(error));
    }
  };

  if (licenses.length === 0) {
    return <p>No license is installed: every extension that consumes capacity is unlicensed.</p>;
  }
  return (
    <>
      <TableRegion label="Installed licenses">
        <table class="data" data-testid="licenses-table">
          <thead>
            <tr>
              <th scope="col">License</th>
              <th scope="col">Status</th>
              <th scope="col" class="num">Capacity</th>
              <th scope="col" class="num">Used</th>
              <th scope="col" class="num">Remaining</th>
              <th scope="col">Period</th>
              <th scope="col">Valid from</th>
              <th scope="col">Expires</th>
              <th scope="col">Grace until</th>
              {live.isAdmin && (
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {licenses.map((l) => (
              <tr key={l.license_id} data-license={l.license_id}>
                <th scope="row">
                  {l.license_id}
                  <div class="sub">{l.customer}</div>
                </th>
                <td>
                  <StatusPill status={l.status} />
                </td>
                <td class="num">{units(l.capacity_units)}</td>
                <td class="num">{units(l.used_units)}</td>
                <td class={`num${l.over_units > 0 ? " over-text" : ""}`}>
                  {l.over_units > 0 ? `${units(l.over_units)} over` : units(l.remaining_units)}
                </td>
                <td>{l.period === "monthly" ? `Monthly (${l.current_period})` : "Term"}</td>
                <td>{date(l.valid_from)}</td>
                <td>{date(l.expires_at)}</td>
                <td>{date(l.grace_ends_at)}</td>
                {live.isAdmin && (
                  <td>
                    {l.status !== "REVOKED" && (
                      <button
                        type="button"
                        class="danger-outline"
                        aria-label={`Revoke ${l.license_id}`}
                        onClick={() => ask(l)}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </TableRegion>
      <dialog ref={dialog} aria-labelledby="revoke-title" onClose={() => setTarget(null)}>
        {target && (
          <form method="dialog" class="dialog-body" onSubmit={(e) => e.preventDefault()}>
            <h2 id="revoke-title">Revoke {target.license_id}?</h2>
            <p>
              Its {units(target.capacity_units)} units leave the pool at once, and a revoked license
              can never be installed again. Usage already charged to it stays on record.
            </p>
            <ErrorNote message={problem} />
            <div class="actions">
              <button type="button" class="secondary" onClick={() => dialog.current?.close()}>
                Cancel
              </button>
              <button type="button" class="danger" onClick={revoke}>
                Revoke license
              </button>
            </div>
          </form>
        )}
      </dialog>
    </>
  );
}
