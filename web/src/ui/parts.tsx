// Small shared pieces: state pills and dots, sortable headers, scrollable table regions.
import type { ComponentChildren } from "preact";
import type { Sort } from "./hooks";

export type StateName = "OK" | "WARNING" | "UNLICENSED" | "DISABLED";
export type LicenseStatus = "PENDING" | "ACTIVE" | "GRACE" | "EXPIRED" | "REVOKED";

const stateWords: Record<StateName, string> = {
  OK: "OK",
  WARNING: "Warning",
  UNLICENSED: "Unlicensed",
  DISABLED: "Disabled",
};

const statusWords: Record<LicenseStatus, string> = {
  PENDING: "Pending",
  ACTIVE: "Active",
  GRACE: "Grace",
  EXPIRED: "Expired",
  REVOKED: "Revoked",
};

const statusTone: Record<LicenseStatus, string> = {
  PENDING: "neutral",
  ACTIVE: "ok",
  GRACE: "warning",
  EXPIRED: "danger",
  REVOKED: "muted",
};

const STATES: readonly string[] = ["OK", "WARNING", "UNLICENSED", "DISABLED"];

/** A state the API sends as plain text; anything unknown is shown as Unlicensed, the cautious reading. */
export function asState(state: string): StateName {
  return STATES.includes(state) ? (state as StateName) : "UNLICENSED";
}

export function stateWord(state: StateName): string {
  return stateWords[state];
}

export function stateTone(state: StateName): string {
  return { OK: "ok", WARNING: "warning", UNLICENSED: "danger", DISABLED: "muted" }[state];
}

export function StatePill({ state }: { state: StateName }) {
  return <span class={`pill tone-${stateTone(state)}`}>{stateWords[state]}</span>;
}

export function StatusPill({ status }: { status: LicenseStatus }) {
  return <span class={`pill tone-${statusTone[status]}`}>{statusWords[status]}</span>;
}

export function StateDot({ state, label }: { state: StateName; label: string }) {
  const text = `${label}: ${stateWords[state]}`;
  return <span class={`dot tone-${stateTone(state)}`} title={text} role="img" aria-label={text} />;
}

export function SortHeader<K extends string>(props: {
  sort: Sort<K>;
  column: K;
  children: ComponentChildren;
  numeric?: boolean;
}) {
  const { sort, column, children, numeric } = props;
  const active = sort.key === column;
  return (
    <th scope="col" aria-sort={active ? sort.direction : "none"} class={numeric ? "num" : undefined}>
      <button type="button" class="sort" onClick={() => sort.toggle(column)}>
        {children}
        <span class="sort-mark" aria-hidden="true">
          {active ? (sort.direction === "ascending" ? "▲" : "▼") : "↕"}
        </span>
      </button>
    </th>
  );
}

/** A table that scrolls sideways on narrow screens, reachable by keyboard. */
export function TableRegion({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-region" role="region" aria-label={`${label} table`} tabIndex={0}>
      {children}
    </div>
  );
}

export function ErrorNote({ message }: { message: string | null }) {
  return message ? (
    <p class="error-note" role="alert">
      {message}
    </p>
  ) : null;
}
