// The typed API client. Types come from schema.d.ts, generated from ../openapi.json
// (`npm run generate`); nothing here restates the API by hand.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Summary = Schemas["Summary"];
export type Enforcement = Schemas["Enforcement"];
export type Timeseries = Schemas["Timeseries"];
export type License = Schemas["LicenseOut"];
export type QuarantineItem = Schemas["QuarantineItem"];
export type WhoAmI = Schemas["WhoAmI"];
export type Info = Schemas["Info"];
export type ExtensionState = Schemas["ExtensionUsage"]["state"];
export type ExtensionRuntime = Schemas["ExtensionOut"];

let bearer: string | null = null;

/** Sets the token that every request carries from now on. */
export function setToken(token: string | null): void {
  bearer = token;
}

const auth: Middleware = {
  onRequest({ request }) {
    if (bearer) request.headers.set("Authorization", `Bearer ${bearer}`);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin });
api.use(auth);

/** A refused request, with the server's problem-details text. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

interface Outcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

function problemText(error: unknown, response: Response): [string, string | null] {
  if (error && typeof error === "object") {
    const problem = error as { detail?: unknown; field?: unknown; title?: unknown };
    const detail = typeof problem.detail === "string" ? problem.detail : null;
    const field = typeof problem.field === "string" ? problem.field : null;
    if (detail) return [detail, field];
    if (typeof problem.title === "string") return [problem.title, field];
  }
  if (typeof error === "string" && error) return [error, null];
  return [`${response.status} ${response.statusText}`.trim(), null];
}

/** The data and response of a successful call; throws ApiError with the server's reason otherwise. */
export async function answered<T>(call: Promise<Outcome<T>>): Promise<{ data: T; response: Response }> {
  const { data, error, response } = await call;
  if (!response.ok || error !== undefined) {
    const [detail, field] = problemText(error, response);
    throw new ApiError(response.status, detail, field);
  }
  return { data: data as T, response };
}

/** The data of a successful call; throws ApiError with the server's reason otherwise. */
export async function ok<T>(call: Promise<Outcome<T>>): Promise<T> {
  return (await answered(call)).data;
}

/** The message to show for any failure. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
