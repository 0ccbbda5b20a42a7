import {
  BaseEdge,
  Controls,
  type Edge,
  EdgeLabelRenderer,
  type EdgeProps,
  type FitViewOptions,
  getBezierPath,
  Handle,
  MarkerType,
  type Node,
  type NodeProps,
  Position,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { memo, useEffect, useMemo, useRef } from "react";
import { useKey, useSignal } from "../store";
import type { BlockNotes, Graph } from "../types";
import { useNotebook } from "./context";
import { involvedBlocks } from "./controller";
import { NoteChips } from "./Notes";

type BlockNodeData = {
  name: string;
  language: string;
  errors: string[];
  /** Names the block reads that no block defines (amber, with a tooltip). */
  warnings: string[];
  notes: BlockNotes | undefined;
};
type BlockNode = Node<BlockNodeData, "block">;
type NamesEdgeData = { from: string; to: string; label: string; span: number };
type NamesEdge = Edge<NamesEdgeData, "names">;

const NODE_W = 160;
const GAP_X = 30;
const ROW_H = 90;
const PER_ROW = 6; // a wide layer wraps onto more rows

const BlockNodeView = memo(function BlockNodeView({ data }: NodeProps<BlockNode>) {
  const { ctl } = useNotebook();
  const state = useKey(ctl.states, data.name);
  const items = useKey(ctl.items, data.name);
  const status = state?.status ?? "never";
  const hasError = data.errors.length > 0;
  const hasWarning = !hasError && data.warnings.length > 0;
  return (
    <div
      className={`graph-node status-${status}${hasError ? " has-error" : ""}${hasWarning ? " has-warning" : ""}`}
      data-testid={`graph-node-${data.name}`}
      title={
        hasError || hasWarning
          ? [...data.errors, ...data.warnings].join("\n")
          : `${data.name} (${data.language}): ${status}`
      }
      style={{ width: NODE_W }}
    >
      <Handle type="target" position={Position.Top} isConnectable={false} />
      <span className="dot" />
      <span className="graph-node-name">{data.name}</span>
      <NoteChips notes={data.notes} items={items ? items.length : null} testId={`graph-notes-${data.name}`} />
      <Handle type="source" position={Position.Bottom} isConnectable={false} />
    </div>
  );
});

function NamesEdgeView(props: EdgeProps<NamesEdge>) {
  const { id, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, data, markerEnd } = props;
  const [path, midX, midY] = getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  // An edge over several layers has its label in the last gap before its target, where
  // it does not sit on the blocks it passes.
  const [labelX, labelY] =
    data && data.span > 1 && targetY > sourceY
      ? bezierPoint(sourceX, sourceY, targetX, targetY, 1 - 0.5 / data.span)
      : [midX, midY];
  return (
    <>
      <BaseEdge id={id} path={path} markerEnd={markerEnd} />
      {data && (
        <EdgeLabelRenderer>
          <div
            className="edge-label nodrag nopan"
            data-testid={`graph-edge-${data.from}-${data.to}`}
            title={`${data.to} reads ${data.label} from ${data.from}`}
            style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }}
          >
            {data.label}
          </div>
        </EdgeLabelRenderer>
      )}
    </>
  );
}

/** A point of React Flow's top-to-bottom bezier (control points half the height away). */
function bezierPoint(sx: number, sy: number, tx: number, ty: number, t: number): [number, number] {
  const half = (ty - sy) / 2;
  const u = 1 - t;
  const a = u * u * u;
  const b = 3 * u * u * t;
  const c = 3 * u * t * t;
  const d = t * t * t;
  return [a * sx + b * sx + c * tx + d * tx, a * sy + b * (sy + half) + c * (ty - half) + d * ty];
}

const nodeTypes = { block: BlockNodeView };
const edgeTypes = { names: NamesEdgeView };

/** Layers top to bottom (a layer's blocks side by side), as the server computed them. */
function layout(graph: Graph): { nodes: BlockNode[]; edges: NamesEdge[] } {
  const errors = new Map<string, string[]>();
  for (const problem of graph.errors) {
    for (const name of involvedBlocks(problem, graph)) {
      errors.set(name, [...(errors.get(name) ?? []), problem.message]);
    }
  }
  const warnings = new Map<string, string[]>();
  for (const w of graph.warnings ?? []) {
    if (!w.block) continue;
    const text = `${w.file}:${w.line}: reads '${w.name}', which no block defines${w.hint ? ` — ${w.hint}` : ""}`;
    warnings.set(w.block, [...(warnings.get(w.block) ?? []), text]);
  }
  const language = new Map(graph.blocks.map((b) => [b.name, b.language]));
  const notes = new Map(graph.blocks.map((b) => [b.name, b.notes]));
  const placed = new Set<string>();
  const layers = graph.layers.map((layer) => layer.filter((b) => language.has(b) && !placed.has(b) && placed.add(b)));
  const rest = graph.blocks.map((b) => b.name).filter((b) => !placed.has(b));
  if (rest.length) layers.push(rest);

  // Within a layer, blocks go under the blocks they read from (fewer crossings).
  const upstream = new Map<string, string[]>();
  for (const e of graph.edges) upstream.set(e.to, [...(upstream.get(e.to) ?? []), e.from]);
  const slot = new Map<string, number>();
  const layerOf = new Map<string, number>();
  layers.forEach((layer, index) => {
    if (index > 0) {
      const weight = (name: string): number => {
        const parents = (upstream.get(name) ?? []).filter((u) => slot.has(u));
        return parents.length ? parents.reduce((sum, u) => sum + slot.get(u)!, 0) / parents.length : Infinity;
      };
      const weights = new Map(layer.map((name) => [name, weight(name)]));
      layer.sort((x, y) => weights.get(x)! - weights.get(y)! || 0);
    }
    layer.forEach((name, i) => {
      slot.set(name, i - (layer.length - 1) / 2);
      layerOf.set(name, index);
    });
  });

  const nodes: BlockNode[] = [];
  let row = 0;
  for (const layer of layers) {
    for (let i = 0; i < layer.length; i += PER_ROW) {
      const chunk = layer.slice(i, i + PER_ROW);
      const width = chunk.length * NODE_W + (chunk.length - 1) * GAP_X;
      chunk.forEach((name, j) => {
        nodes.push({
          id: name,
          type: "block",
          position: { x: -width / 2 + j * (NODE_W + GAP_X), y: row * ROW_H },
          data: {
            name,
            language: language.get(name) ?? "",
            errors: errors.get(name) ?? [],
            warnings: warnings.get(name) ?? [],
            notes: notes.get(name) && Object.keys(notes.get(name)!).length ? notes.get(name) : undefined,
          },
        });
      });
      row++;
    }
  }
  const edges: NamesEdge[] = graph.edges
    .filter((e) => language.has(e.from) && language.has(e.to))
    .map((e) => ({
      id: `${e.from}->${e.to}`,
      source: e.from,
      target: e.to,
      type: "names",
      markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 },
      data: {
        from: e.from,
        to: e.to,
        label: e.names.length ? e.names.join(", ") : "(after)",
        span: Math.max(1, (layerOf.get(e.to) ?? 0) - (layerOf.get(e.from) ?? 0)),
      },
    }));
  return { nodes, edges };
}

const BIG_GRAPH = 40;

/** Fit the whole graph; a big one is fitted to its first blocks, at a size one can read
 * (the controls' fit button shows all of it). */
function fitOptions(nodes: BlockNode[]): FitViewOptions {
  if (nodes.length <= BIG_GRAPH) return { padding: 0.15, maxZoom: 1.2 };
  const top = nodes.filter((n) => n.position.y <= 6 * ROW_H).map((n) => ({ id: n.id }));
  return { padding: 0.15, maxZoom: 1.2, minZoom: 0.4, nodes: top };
}

function FitView({ signature, options }: { signature: string; options: FitViewOptions }) {
  const flow = useReactFlow();
  const optionsRef = useRef(options);
  optionsRef.current = options;
  useEffect(() => {
    const timer = setTimeout(() => void flow.fitView(optionsRef.current), 60);
    return () => clearTimeout(timer);
    // refit when the set of blocks changes, not on every analysis
  }, [flow, signature]);
  return null;
}

function scrollToCard(name: string) {
  document.getElementById(`card-${name}`)?.scrollIntoView({ behavior: "smooth", block: "start" });
}

export function GraphView() {
  const { ctl } = useNotebook();
  const graph = useSignal(ctl.graph);
  const analyzeError = useSignal(ctl.analyzeError);
  const { nodes, edges } = useMemo(() => (graph ? layout(graph) : { nodes: [], edges: [] }), [graph]);
  const signature = useMemo(() => nodes.map((n) => n.id).join("\n"), [nodes]);
  const fit = useMemo(() => fitOptions(nodes), [nodes]);

  return (
    <div className="graph-panel">
      <div className="graph" data-testid="graph">
        {graph ? (
          <ReactFlowProvider>
            <ReactFlow
              nodes={nodes}
              edges={edges}
              nodeTypes={nodeTypes}
              edgeTypes={edgeTypes}
              fitView
              fitViewOptions={fit}
              minZoom={0.05}
              nodesDraggable={false}
              nodesConnectable={false}
              elementsSelectable={false}
              onNodeClick={(_, node) => scrollToCard(node.id)}
            >
              <Controls showInteractive={false} />
              <FitView signature={signature} options={fit} />
            </ReactFlow>
          </ReactFlowProvider>
        ) : (
          <div className="muted graph-empty">loading the graph…</div>
        )}
      </div>
      {analyzeError && <div className="error-text">analyze: {analyzeError}</div>}
      {graph && graph.errors.length > 0 && (
        <ul className="graph-errors" data-testid="graph-errors">
          {graph.errors.map((p, i) => (
            <li key={i}>
              <span className="problem-kind">{p.kind}</span> {p.message}
              {p.file && (
                <span className="muted">
                  {" "}
                  ({p.file}
                  {p.line !== null ? `:${p.line}` : ""})
                </span>
              )}
              {p.hint && <div className="muted">{p.hint}</div>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
