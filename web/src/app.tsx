// The page: sign-in, then the Licensing tabs with a live connection to the server.
import type { ComponentType } from "preact";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, describe, ok, type Enforcement, type WhoAmI } from "./api/client";
import { LiveContext, type Live } from "./context";
import { subscribe } from "./live";
import { href, useRoute } from "./route";
import { signIn, signOut, storedToken } from "./session";
import { AttributionTab } from "./tabs/attribution";
import { ExtensionsTab } from "./tabs/extensions";
import { LicensesTab } from "./tabs/licenses";
import { UsageTab } from "./tabs/usage";

interface Tab {
  id: string;
  title: string;
  view: ComponentType<{ rest: string[] }>;
}

const TABS: Tab[] = [
  { id: "usage", title: "Usage", view: UsageTab },
  { id: "extensions", title: "Extensions", view: ExtensionsTab },
  { id: "attribution", title: "Attribution", view: AttributionTab },
  { id: "licenses", title: "Licenses", view: LicensesTab },
];

export function App() {
  const [session, setSession] = useState<{ token: string; me: WhoAmI } | null>(null);
  const [checking, setChecking] = useState(() => storedToken() !== null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    const token = storedToken();
    if (!token) return;
    signIn(token).then(
      (me) => {
        setSession({ token, me });
        setChecking(false);
      },
      (error: unknown) => {
        signOut();
        setProblem(describe(error));
        setChecking(false);
      },
    );
  }, []);

  if (checking) return <p class="loading">Signing in…</p>;
  if (!session) {
    return (
      <SignIn
        problem={problem}
        onSignedIn={(token, me) => {
          setProblem(null);
          setSession({ token, me });
        }}
      />
    );
  }
  return (
    <Dashboard
      token={session.token}
      me={session.me}
      onSignOut={() => {
        signOut();
        setSession(null);
      }}
    />
  );
}

function SignIn(props: { problem: string | null; onSignedIn: (token: string, me: WhoAmI) => void }) {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState(props.problem);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      const clean = token.trim();
      props.onSignedIn(clean, await signIn(clean));
    } catch (error) {
      setProblem(describe(error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form class="card signin-card" onSubmit={submit}>
        <h1>unitledger</h1>
        <p>Sign in with an API token to see licensed capacity, usage and who consumes it.</p>
        <label for="token">API token</label>
        <input
          id="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          required
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          placeholder="ul_…"
        />
        {problem && (
          <p class="error-note" role="alert">
            {problem}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
        <p class="hint">
          The server printed the first admin token when it started and saved it in its data
          directory as <code>admin-token</code>. A read-only token:{" "}
          <code>unitledger token create --role viewer</code>. The token is kept for this browser
          tab only.
        </p>
      </form>
    </main>
  );
}

function Dashboard(props: { token: string; me: WhoAmI; onSignOut: () => void }) {
  const { token, me } = props;
  const route = useRoute();
  const [enforcement, setEnforcement] = useState<Enforcement | null>(null);
  const [connected, setConnected] = useState(false);
  const [tick, setTick] = useState(0);
  const pending = useRef<number | null>(null);
  const [info, setInfo] = useState<{ deployment_id: string; version: string } | null>(null);

  // Events can come in bursts (one per extension on a license change): coalesce them.
  const bump = useCallback(() => {
    if (pending.current !== null) return;
    pending.current = window.setTimeout(() => {
      pending.current = null;
      setTick((n) => n + 1);
    }, 100);
  }, []);

  const reloadEnforcement = useCallback(async () => {
    try {
      setEnforcement(await ok(api.GET("/api/v1/enforcement")));
    } catch {
      // The stream reconnects and sends a fresh snapshot; nothing to show meanwhile.
    }
    bump();
  }, [bump]);

  useEffect(
    () =>
      subscribe(token, {
        snapshot(next) {
          setEnforcement(next);
          bump();
        },
        stateChanged() {
          void reloadEnforcement();
        },
        connection: setConnected,
      }),
    [token, bump, reloadEnforcement],
  );

  useEffect(() => {
    ok(api.GET("/api/v1/info")).then(setInfo, () => setInfo(null));
  }, []);

  const live: Live = useMemo(
    () => ({
      me,
      isAdmin: me.role === "admin",
      enforcement,
      tick,
      connected,
      refresh: () => void reloadEnforcement(),
    }),
    [me, enforcement, tick, connected, reloadEnforcement],
  );

  const active = TABS.find((t) => t.id === route.tab) ?? TABS[0]!;
  const View = active.view;
  useEffect(() => {
    document.title = `${active.title} · Licensing · unitledger`;
  }, [active]);

  return (
    <LiveContext.Provider value={live}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <div class="brand">
          <span class="logo" aria-hidden="true">
            ◆
          </span>
          <span>unitledger</span>
          <span class="crumb">Licensing</span>
        </div>
        <div class="session">
          <span
            class={`live ${connected ? "on" : "off"}`}
            role="status"
            title={connected ? "Receiving live updates" : "Live updates paused; reconnecting"}
          >
            {connected ? "Live" : "Reconnecting…"}
          </span>
          {info && (
            <span class="deployment" title={`unitledger ${info.version}`}>
              {info.deployment_id}
            </span>
          )}
          <span class="who">
            {me.name} · <strong>{me.role}</strong>
          </span>
          <button type="button" class="link" onClick={props.onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <nav class="tabs" aria-label="Licensing">
        {TABS.map((t) => (
          <a
            key={t.id}
            href={href(t.id)}
            class="tab"
            aria-current={t.id === active.id ? "page" : undefined}
          >
            {t.title}
          </a>
        ))}
      </nav>
      <main id="main" tabIndex={-1}>
        <h1 class="visually-hidden">{active.title}</h1>
        <View rest={active.id === route.tab ? route.rest : []} />
      </main>
    </LiveContext.Provider>
  );
}
