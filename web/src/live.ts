// The server's enforcement stream (SSE): the current state on connect, a `usage`
// snapshot within a second of units changing, and an `enforcement` event per state change.
import type { Enforcement } from "./api/client";

export interface LiveHandlers {
  /** A full snapshot: on connect (`state`) and whenever units change (`usage`). */
  snapshot(enforcement: Enforcement): void;
  /** A global or per-extension state changed; the snapshot must be fetched again. */
  stateChanged(): void;
  connection(open: boolean): void;
}

/** Opens the stream; returns the function that closes it. EventSource reconnects by itself. */
export function subscribe(token: string, handlers: LiveHandlers): () => void {
  const url = `/api/v1/enforcement/stream?access_token=${encodeURIComponent(token)}`;
  const source = new EventSource(url);
  const onSnapshot = (event: MessageEvent<string>) => {
    handlers.snapshot(JSON.parse(event.data) as Enforcement);
  };
  source.addEventListener("state", onSnapshot);
  source.addEventListener("usage", onSnapshot);
  source.addEventListener("enforcement", () => handlers.stateChanged());
  source.addEventListener("open", () => handlers.connection(true));
  source.addEventListener("error", () => handlers.connection(false));
  return () => source.close();
}
