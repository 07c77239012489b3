// Licensing → Attribution: who should pay. Sub-tabs for reports, records, business
// units and rules, each with its own address (#/attribution/rules).
import { api, ok, type Schemas } from "../../api/client";
import { useLive } from "../../context";
import { href } from "../../route";
import { useResource } from "../../ui/hooks";
import { ErrorNote } from "../../ui/parts";
import { BusinessUnits } from "./business-units";
import { Records } from "./records";
import { Reports } from "./reports";
import { Rules } from "./rules";

export type BusinessUnit = Schemas["BusinessUnitOut"];

export interface SubTabProps {
  units: BusinessUnit[];
  /** Business units or rules changed: load them again. */
  reloadUnits: () => void;
}

const SUBTABS = [
  { id: "reports", title: "Reports", view: Reports },
  { id: "records", title: "Records", view: Records },
  { id: "business-units", title: "Business units", view: BusinessUnits },
  { id: "rules", title: "Rules", view: Rules },
] as const;

export function AttributionTab({ rest }: { rest: string[] }) {
  const live = useLive();
  const units = useResource(() => ok(api.GET("/api/v1/business-units")), [live.tick]);
  const active = SUBTABS.find((s) => s.id === rest[0]) ?? SUBTABS[0];
  const View = active.view;
  return (
    <div class="stack">
      <nav class="subtabs" aria-label="Attribution">
        {SUBTABS.map((s) => (
          <a key={s.id} href={href("attribution", s.id)} aria-current={s.id === active.id ? "page" : undefined}>
            {s.title}
          </a>
        ))}
      </nav>
      <ErrorNote message={units.error} />
      {units.data && <View units={units.data} reloadUnits={units.reload} />}
    </div>
  );
}

/** The name to show for a business unit id; null means the record is unattributed. */
export function unitName(units: BusinessUnit[], id: string | null | undefined): string {
  if (!id) return "Unattributed";
  return units.find((u) => u.business_unit_id === id)?.name ?? id;
}
