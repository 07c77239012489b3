// The API token, kept for this browser tab only (sessionStorage), and who it belongs to.
import { api, ok, setToken, type WhoAmI } from "./api/client";

const KEY = "unitledger.token";

export function storedToken(): string | null {
  try {
    return window.sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

/** Checks a token with the server and keeps it for this tab when it may read the dashboard. */
export async function signIn(token: string): Promise<WhoAmI> {
  setToken(token);
  try {
    const me = await ok(api.GET("/api/v1/whoami"));
    if (me.role === "extension") {
      throw new Error(
        "This is an extension token: it can only report usage. Sign in with an admin or viewer token.",
      );
    }
    window.sessionStorage.setItem(KEY, token);
    return me;
  } catch (error) {
    setToken(null);
    throw error;
  }
}

export function signOut(): void {
  window.sessionStorage.removeItem(KEY);
  setToken(null);
}
