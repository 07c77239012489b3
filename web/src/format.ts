// Number and time formatting, in the reader's locale.

const unitFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const valueFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const percentFormat = new Intl.NumberFormat(undefined, {
  style: "percent",
  maximumFractionDigits: 1,
});
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: "medium",
  timeStyle: "short",
});
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** Units, to one decimal: 48,360 or 12.5. */
export function units(value: number): string {
  return unitFormat.format(value);
}

/** A dimension's raw value, to two decimals. */
export function quantity(value: number): string {
  return valueFormat.format(value);
}

/** A ratio as a percentage: 0.93 → 93%. */
export function percent(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined ? "—" : percentFormat.format(ratio);
}

export function dateTime(iso: string | null | undefined): string {
  return iso ? dateTimeFormat.format(new Date(iso)) : "—";
}

export function date(iso: string | null | undefined): string {
  return iso ? dateFormat.format(new Date(iso)) : "—";
}

const spans: [Intl.RelativeTimeFormatUnit, number][] = [
  ["day", 86_400_000],
  ["hour", 3_600_000],
  ["minute", 60_000],
];

/** How long ago (or from now) an instant is: "5 minutes ago", "in 3 days". */
export function relative(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "never";
  const delta = new Date(iso).getTime() - now;
  for (const [unit, size] of spans) {
    if (Math.abs(delta) >= size) return relativeFormat.format(Math.round(delta / size), unit);
  }
  return relativeFormat.format(Math.round(delta / 1000), "second");
}

/** An amount of money in a currency: €1,234.50. */
export function money(
  amount: number | null | undefined,
  currency: string | null | undefined,
  maximumFractionDigits = 2,
): string {
  if (amount === null || amount === undefined || !currency) return "—";
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency, maximumFractionDigits }).format(amount);
  } catch {
    return `${valueFormat.format(amount)} ${currency}`;
  }
}

/** yyyy-mm-dd in the reader's time zone → the instant that day starts, as ISO-8601. */
export function dayStart(day: string): string {
  return new Date(`${day}T00:00:00`).toISOString();
}

/** yyyy-mm-dd → the instant the next day starts: an inclusive "to" date as an exclusive end. */
export function dayEnd(day: string): string {
  const end = new Date(`${day}T00:00:00`);
  end.setDate(end.getDate() + 1);
  return end.toISOString();
}
