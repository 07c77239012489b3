// What every tab shares: the caller, the live enforcement snapshot and a tick that
// advances whenever the server says something changed.
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Enforcement, WhoAmI } from "./api/client";

export interface Live {
  me: WhoAmI;
  /** Write actions (install, revoke, replay, edit) are offered to admins only. */
  isAdmin: boolean;
  enforcement: Enforcement | null;
  /** Advances on every live event; data that depends on usage reloads when it does. */
  tick: number;
  connected: boolean;
  /** Reload everything after this page changed something itself. */
  refresh: () => void;
}

export const LiveContext = createContext<Live | null>(null);

export function useLive(): Live {
  const live = useContext(LiveContext);
  if (!live) throw new Error("useLive outside the dashboard");
  return live;
}
