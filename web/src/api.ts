// Every call of docs/api.md, with the token (if any) attached.
import type {
  Block,
  Graph,
  Health,
  Language,
  LogSearch,
  NotebookState,
  Page,
  Pipeline,
  Problem,
  ProjectInfo,
  Proposal,
  Reader,
  Run,
  RunDetail,
  StreamState,
  Timeline,
  Trend,
  Trigger,
} from "./types";

const TOKEN_KEY = "cairn.token";

function tokenFromUrl(): string | null {
  const fromSearch = new URLSearchParams(window.location.search).get("token");
  if (fromSearch) return fromSearch;
  const hash = window.location.hash;
  const query = hash.indexOf("?");
  return query >= 0 ? new URLSearchParams(hash.slice(query + 1)).get("token") : null;
}

function initialToken(): string | null {
  const fromUrl = tokenFromUrl();
  try {
    if (fromUrl) {
      window.localStorage.setItem(TOKEN_KEY, fromUrl);
      return fromUrl;
    }
    return window.localStorage.getItem(TOKEN_KEY);
  } catch {
    return fromUrl; // storage may be unavailable (private mode, sandboxed frames)
  }
}

let token: string | null = initialToken();

export function getToken(): string | null {
  return token;
}

export function setToken(value: string | null): void {
  token = value || null;
  try {
    if (token) window.localStorage.setItem(TOKEN_KEY, token);
    else window.localStorage.removeItem(TOKEN_KEY);
  } catch {
    // ignore
  }
}

export class ApiError extends Error {
  readonly status: number;
  readonly body: unknown;
  readonly problems: Problem[];

  constructor(status: number, message: string, body: unknown) {
    super(message);
    this.status = status;
    this.body = body;
    const problems = (body as { problems?: unknown } | null)?.problems;
    this.problems = Array.isArray(problems) ? (problems as Problem[]) : [];
  }
}

function describe(status: number, body: unknown, fallback: string): string {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    // FastAPI validation errors
    return detail
      .map((d: { msg?: string; loc?: unknown[] }) => `${(d.loc ?? []).join(".")}: ${d.msg ?? ""}`)
      .join("; ");
  }
  return `${status} ${fallback}`;
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!response.ok) {
    throw new ApiError(response.status, describe(response.status, parsed, response.statusText), parsed);
  }
  return parsed as T;
}

const e = encodeURIComponent;

export function errorText(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.problems.length) {
      // the detail repeats the problems; they say it with their hints
      return error.problems.map((p) => `${p.message}${p.hint ? ` (${p.hint})` : ""}`).join("\n");
    }
    const unauthorized = error.status === 401 ? " — open the page with ?token=…" : "";
    return error.message + unauthorized;
  }
  return error instanceof Error ? error.message : String(error);
}

export const api = {
  project: () => request<ProjectInfo>("GET", "/api/project"),
  pipeline: (p: string) => request<Pipeline>("GET", `/api/pipelines/${e(p)}`),
  analyze: (p: string, sources: Record<string, string>) =>
    request<Graph>("POST", `/api/pipelines/${e(p)}/analyze`, { sources }),
  createBlock: (p: string, name: string, language: Language) =>
    request<Block>("POST", `/api/pipelines/${e(p)}/blocks`, { name, language }),
  saveBlock: (p: string, b: string, source: string, baseHash: string | null) =>
    request<Block>("PUT", `/api/pipelines/${e(p)}/blocks/${e(b)}`, { source, base_hash: baseHash }),
  renameBlock: (p: string, b: string, name: string, updateReaders = false) =>
    request<Block & { readers: Reader[] }>("POST", `/api/pipelines/${e(p)}/blocks/${e(b)}/rename`, {
      name,
      update_readers: updateReaders,
    }),
  readers: (p: string, b: string) =>
    request<{ readers: Reader[] }>("GET", `/api/pipelines/${e(p)}/blocks/${e(b)}/readers`),
  deleteBlock: (p: string, b: string) =>
    request<void>("DELETE", `/api/pipelines/${e(p)}/blocks/${e(b)}`),
  createPipeline: (name: string) => request<Pipeline>("POST", "/api/pipelines", { name }),
  reorder: (p: string, blocks: string[]) => request<Pipeline>("PUT", `/api/pipelines/${e(p)}/order`, { blocks }),

  generate: (p: string, description: string, language: Language, name: string | null) =>
    request<Proposal>("POST", `/api/pipelines/${e(p)}/generate`, { description, language, name }),
  generationContext: (p: string, language: Language) =>
    request<{ text: string }>("GET", `/api/pipelines/${e(p)}/generate/context?language=${e(language)}`),
  explain: (p: string, b: string) =>
    request<{ text: string }>("POST", `/api/pipelines/${e(p)}/blocks/${e(b)}/explain`),
  fix: (p: string, b: string) => request<Proposal>("POST", `/api/pipelines/${e(p)}/blocks/${e(b)}/fix`),

  notebook: (p: string) => request<NotebookState>("GET", `/api/notebooks/${e(p)}`),
  run: (p: string, block: string | null, mode: "block" | "downstream" | "all", item: number | null = null) =>
    request<NotebookState>("POST", `/api/notebooks/${e(p)}/run`, { block, mode, item }),
  interrupt: (p: string) => request<void>("POST", `/api/notebooks/${e(p)}/interrupt`),
  restart: (p: string) => request<void>("POST", `/api/notebooks/${e(p)}/restart`),
  outputPage: (p: string, b: string, name: string, offset: number, limit: number) =>
    request<Page>(
      "GET",
      `/api/notebooks/${e(p)}/blocks/${e(b)}/output?name=${e(name)}&offset=${offset}&limit=${limit}`,
    ),

  startRun: (p: string, variables: Record<string, unknown> = {}) =>
    request<{ run_id: string }>("POST", `/api/pipelines/${e(p)}/runs`, { variables }),
  runs: (pipeline: string | null, limit = 50) =>
    request<Run[]>("GET", `/api/runs?${pipeline ? `pipeline=${e(pipeline)}&` : ""}limit=${limit}`),
  runDetail: (id: string) => request<RunDetail>("GET", `/api/runs/${e(id)}`),
  runLogs: (id: string, b: string) =>
    request<{ text: string }>("GET", `/api/runs/${e(id)}/logs/${e(b)}`),

  stats: (days: number) => request<{ days: number; pipelines: Health[] }>("GET", `/api/stats?days=${days}`),
  pipelineStats: (p: string, days: number) => request<Trend>("GET", `/api/pipelines/${e(p)}/stats?days=${days}`),
  timeline: (id: string) => request<Timeline>("GET", `/api/runs/${e(id)}/timeline`),
  searchLogs: (id: string, block: string | null, q: string) =>
    request<LogSearch>("GET", `/api/runs/${e(id)}/logs?${block ? `block=${e(block)}&` : ""}q=${e(q)}`),

  triggers: (p: string) => request<Trigger[]>("GET", `/api/pipelines/${e(p)}/triggers`),
  setTriggerPaused: (p: string, t: string, paused: boolean) =>
    request<{ name: string; paused: boolean }>("PUT", `/api/pipelines/${e(p)}/triggers/${e(t)}`, { paused }),

  streams: () => request<StreamState[]>("GET", "/api/streams"),
  startStream: (p: string) => request<StreamState>("POST", `/api/streams/${e(p)}/start`),
  stopStream: (p: string) => request<StreamState>("POST", `/api/streams/${e(p)}/stop`),
};

export function notebookSocketUrl(p: string): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const query = token ? `?token=${e(token)}` : "";
  return `${scheme}://${window.location.host}/api/notebooks/${e(p)}/ws${query}`;
}
