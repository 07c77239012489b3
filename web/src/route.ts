// Hash routes, so each tab (and a filtered view) has an address: #/extensions/quarantine/legacy-sync
import { useEffect, useState } from "preact/hooks";

export interface Route {
  tab: string;
  rest: string[];
}

function parse(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  return { tab: parts[0] ?? "usage", rest: parts.slice(1) };
}

export function href(...parts: string[]): string {
  return `#/${parts.map(encodeURIComponent).join("/")}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parse(window.location.hash));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
