// Small hooks: loading a resource again when inputs or the live tick change; sorting.
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { describe } from "../api/client";

export interface Resource<T> {
  data: T | undefined;
  error: string | null;
  reload: () => void;
}

/** Loads `load()` now and whenever `inputs` change; keeps the last data while reloading. */
export function useResource<T>(load: () => Promise<T>, inputs: unknown[]): Resource<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [nonce, setNonce] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const call = ++latest.current;
    load().then(
      (value) => {
        if (call !== latest.current) return;
        setData(value);
        setError(null);
      },
      (failure: unknown) => {
        if (call === latest.current) setError(describe(failure));
      },
    );
    // Reloads on any change of the inputs the caller names, or on reload().
  }, [...inputs, nonce]);
  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { data, error, reload };
}

export type Direction = "ascending" | "descending";

export interface Sort<K extends string> {
  key: K;
  direction: Direction;
  toggle: (key: K) => void;
}

/** Which column a table is sorted by; choosing the same column again reverses it. */
export function useSort<K extends string>(initial: K, direction: Direction = "descending"): Sort<K> {
  const [state, setState] = useState<{ key: K; direction: Direction }>({ key: initial, direction });
  const toggle = useCallback((key: K) => {
    setState((prev) =>
      prev.key === key
        ? { key, direction: prev.direction === "ascending" ? "descending" : "ascending" }
        : { key, direction: key === initial ? direction : "ascending" },
    );
  }, []);
  return useMemo(() => ({ ...state, toggle }), [state, toggle]);
}

/** Rows sorted by `value(row, key)`, numbers numerically and text alphabetically. */
export function sortRows<T, K extends string>(
  rows: readonly T[],
  sort: { key: K; direction: Direction },
  value: (row: T, key: K) => string | number | null,
): T[] {
  const sign = sort.direction === "ascending" ? 1 : -1;
  return [...rows].sort((a, b) => {
    const x = value(a, sort.key);
    const y = value(b, sort.key);
    if (x === y) return 0;
    if (x === null) return 1;
    if (y === null) return -1;
    if (typeof x === "number" && typeof y === "number") return (x - y) * sign;
    return String(x).localeCompare(String(y)) * sign;
  });
}

/** Whether a CSS media query matches now; follows changes (window resizes). */
export function useMedia(query: string): boolean {
  const [matches, setMatches] = useState(() => window.matchMedia(query).matches);
  useEffect(() => {
    const list = window.matchMedia(query);
    const onChange = () => setMatches(list.matches);
    onChange();
    list.addEventListener("change", onChange);
    return () => list.removeEventListener("change", onChange);
  }, [query]);
  return matches;
}

/** A counter that advances every `ms` milliseconds while the component is shown. */
export function useEvery(ms: number): number {
  const [count, setCount] = useState(0);
  useEffect(() => {
    const timer = window.setInterval(() => setCount((n) => n + 1), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
  return count;
}
