// The shapes of docs/api.md.

export type Language = "python" | "sql" | "r";

export interface Problem {
  kind: string;
  message: string;
  file: string | null;
  line: number | null;
  hint: string | null;
  /** `unknown-input` warnings: the block, the name it reads and defined names like it. */
  block?: string;
  name?: string;
  suggestions?: string[];
}

/** A block that reads a block's name (docs/api.md, rename). */
export interface Reader {
  block: string;
  file: string;
  language: Language;
  /** False for R and templated SQL: updated by hand. */
  updatable: boolean;
  updated: boolean;
}

export interface Block {
  name: string;
  language: Language;
  file: string;
  source: string;
  hash: string;
}

export interface GraphEdge {
  from: string;
  to: string;
  names: string[];
}

/** What decides whether and how often a block runs, where not the default (docs/api.md). */
export interface BlockNotes {
  run_if?: string;
  condition?: boolean;
  trigger_rule?: string;
  fan_out?: boolean;
  map?: string;
  /** Items of a mapped block in the latest pipeline run. */
  items?: number;
}

export interface Graph {
  blocks: { name: string; language: Language; file: string; notes?: BlockNotes }[];
  edges: GraphEdge[];
  errors: Problem[];
  /** Names blocks read that nothing defines: shown, but they do not stop a run. */
  warnings: Problem[];
  layers: string[][];
}

export interface Pipeline {
  name: string;
  blocks: Block[];
  graph: Graph;
}

export type WorkerStatus = "idle" | "running" | "dead" | "starting";
export type BlockStatus =
  | "never"
  | "queued"
  | "running"
  | "success"
  | "failed"
  | "upstream_failed"
  | "skipped"
  | "interrupted"
  | "cancelled";

/** Where a card's state comes from: the notebook's own run, or a recorded pipeline run
 * (`cairn run`, a trigger, a backfill, Run pipeline); `at` is when it ended (ISO, UTC). */
export type StateOrigin =
  | { kind: "notebook"; at: string }
  | { kind: "run"; run_id: string; trigger: string; at: string };

export interface Column {
  name: string;
  type: string;
}

export interface Page {
  columns: Column[];
  rows: unknown[][];
  offset: number;
  total: number;
}

export type Output =
  | { name: string; kind: "table"; columns: Column[]; rows: number; page: Page }
  | { name: string; kind: "value"; repr: string };

export interface BlockFailure {
  message: string;
  file: string | null;
  line: number | null;
  traceback: string;
}

export type Stream = "stdout" | "stderr" | "log";

export interface LogLine {
  stream: Stream;
  line: string;
}

export interface BlockState {
  status: BlockStatus;
  stale: boolean;
  duration_s: number | null;
  outputs: Output[];
  error: BlockFailure | null;
  logs: LogLine[];
  origin?: StateOrigin | null;
}

export interface NotebookState {
  worker: WorkerStatus;
  running: string | null;
  blocks: Record<string, BlockState>;
  message?: string | null;
}

export type NotebookEvent =
  | { type: "state"; state: NotebookState }
  | { type: "started"; block: string; attempt: number }
  | { type: "output"; block: string; stream: Stream; line: string }
  | { type: "finished"; block: string; state: BlockState }
  | { type: "worker"; worker: WorkerStatus; message: string | null };

export interface Run {
  id: string;
  pipeline: string;
  status: string;
  started_at: string | null;
  ended_at: string | null;
  duration_s: number | null;
  error: string | null;
}

export interface BlockRun {
  block: string;
  attempt: number;
  status: string;
  started_at: string | null;
  ended_at: string | null;
  duration_s: number | null;
  rows_out: number | null;
  output_bytes: number | null;
  peak_memory_bytes: number | null;
  error: string | null;
}

export interface RunDetail extends Run {
  blocks: BlockRun[];
}

export interface ProjectInfo {
  name: string;
  root: string;
  pipelines: { name: string; blocks: number; last_run: Run | null }[];
}

export type TriggerKind = "schedule" | "event" | "api" | "after";

export interface Trigger {
  name: string;
  kind: TriggerKind;
  /** What it waits for, in words: "every 60 s", "cron 0 6 * * * (UTC)", ... */
  when: string;
  catch_up: string;
  paused: boolean;
  /** The next scheduled time (ISO, UTC); null for triggers that wait for an event. */
  next_fire: string | null;
}

// -- dashboards (docs/monitoring.md) ---------------------------------------------------------

/** A run as the dashboards show it; metrics are null in runs recorded before Cairn measured them. */
export interface RunPoint extends Run {
  trigger: string | null;
  queued_at: string | null;
  scheduled_for: string | null;
  rows_out: number | null;
  output_bytes: number | null;
  peak_memory_bytes: number | null;
  cpu_seconds: number | null;
}

export interface Health {
  pipeline: string;
  days: number;
  /** Finished runs (succeeded, failed or interrupted) in the window. */
  runs: number;
  failures: number;
  success_rate: number | null;
  /** Percentiles of the successful runs' durations, in seconds. */
  p50_s: number | null;
  p95_s: number | null;
  /** Runs queued or going now. */
  active: number;
  last_run: RunPoint | null;
  next_run: string | null;
  /** Why the next run is unknown: a broken pipeline.yaml. */
  problem: string | null;
}

export interface DayCount {
  day: string;
  runs: number;
  failures: number;
}

export interface BlockStats {
  block: string;
  runs: number;
  failures: number;
  p50_s: number | null;
  p95_s: number | null;
}

export interface Trend {
  health: Health;
  /** Oldest first. */
  runs: RunPoint[];
  days: DayCount[];
  blocks: BlockStats[];
}

/** One statement of a SQL block: where it starts in the file, its time and rows. */
export interface StatementProfile {
  statement: number;
  line: number;
  seconds: number;
  rows: number | null;
}

export interface BlockBar extends BlockRun {
  queued_at: string | null;
  rows_in: number | null;
  cpu_seconds: number | null;
  profile: StatementProfile[] | null;
}

export interface Timeline {
  run: RunPoint;
  blocks: BlockBar[];
}

export interface LogMatch {
  block: string;
  line: number;
  text: string;
}

export interface LogSearch {
  run_id: string;
  lines: LogMatch[];
  truncated: boolean;
}

// -- managed streams ---------------------------------------------------------------------------

/**
 * A streaming pipeline's process as `GET /api/streams` shows it. `status` is the process's
 * (starting, running, restarting, failed, stopped), or `stale` when it runs but has not
 * reported for 10 s, or `stopping` when asked to stop and still running.
 */
export interface StreamState {
  pipeline: string;
  /** e.g. "redis orders". */
  source: string;
  desired: "running" | "stopped";
  status: string;
  /** pipeline.yaml cannot be read. */
  problem: string | null;
  run_id: string | null;
  pid: number | null;
  host: string | null;
  started_at: string | null;
  heartbeat_at: string | null;
  restarts: number;
  next_start_at: string | null;
  messages_in: number;
  messages_out: number;
  dead_letters: number;
  batches: number;
  /** Messages per second. */
  rate: number | null;
  lag: number | null;
  latency_p50_ms: number | null;
  latency_p99_ms: number | null;
  last_error: string | null;
  last_error_at: string | null;
}

/** A block proposed by generate or fix (not saved): by the model, or from a template. */
export interface Proposal {
  name: string;
  language: Language;
  code: string;
  source: "model" | "template";
  template: string | null;
  /** Requests made to the model (0 for a template); more than one means repair rounds. */
  attempts: number;
  /** What validation still finds wrong with the code. */
  problems: Problem[];
}
