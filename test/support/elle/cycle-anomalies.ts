/**
 * Cycle anomalies: finds, for each class (G0, G1c, G-single, G-nonadjacent, G2),
 * one short cycle in every strongly connected component of the dependency graph
 * restricted to the edge kinds the class may use, and explains it edge by edge.
 * (Restricting first means a class with no cycle costs one Tarjan pass, and the
 * breadth-first searches only run where a cycle of that class can exist.)
 *
 * Process-order edges, when the graph has them, count as non-rw dependencies. A
 * class is first searched without them; then, with them, in the components that
 * hold no cycle already found. A cycle that uses one is reported as
 * '<class>-process'.
 */
import { anomaly, type Anomaly, type CycleAnomalyType } from './anomaly.js';
import { findCycle, type Cycle, type CycleShape } from './cycle-search.js';
import type { DependencyGraph, EdgeKind } from './dependency-graph.js';
import { formatTransaction, type TransactionId } from './history.js';
import { stronglyConnectedComponents } from './strongly-connected.js';

/** What a walk has taken so far. */
interface WalkState {
  readonly started: boolean;
  /** Anti-dependency (rw) edges taken, counted up to 2. */
  readonly readWrite: number;
  readonly sawWriteRead: boolean;
  readonly firstIsReadWrite: boolean;
  readonly lastIsReadWrite: boolean;
}

const START: WalkState = {
  started: false,
  readWrite: 0,
  sawWriteRead: false,
  firstIsReadWrite: false,
  lastIsReadWrite: false,
};

function advance(state: WalkState, kind: EdgeKind): WalkState {
  const isReadWrite = kind === 'rw';
  return {
    started: true,
    readWrite: Math.min(2, state.readWrite + (isReadWrite ? 1 : 0)),
    sawWriteRead: state.sawWriteRead || kind === 'wr',
    firstIsReadWrite: state.started ? state.firstIsReadWrite : isReadWrite,
    lastIsReadWrite: isReadWrite,
  };
}

interface ShapeRules {
  /** The data edge kinds the class's cycles may use (process edges are added on request). */
  readonly kinds: readonly EdgeKind[];
  /** Edges in the shortest cycle of the class. */
  readonly shortestPossible: number;
  /** May the walk take an edge of `kind` now? */
  allows(state: WalkState, kind: EdgeKind): boolean;
  accepts(state: WalkState): boolean;
  /** The part of the state the rules look at (walks equal in it are interchangeable). */
  stateKey(state: WalkState): string;
}

const SHAPE_RULES: Record<CycleAnomalyType, ShapeRules> = {
  G0: {
    shortestPossible: 2,
    kinds: ['ww'],
    allows: () => true,
    accepts: () => true,
    stateKey: () => '',
  },
  G1c: {
    shortestPossible: 2,
    kinds: ['ww', 'wr'],
    allows: () => true,
    accepts: (state) => state.sawWriteRead,
    stateKey: (state) => `${state.sawWriteRead}`,
  },
  'G-single': {
    shortestPossible: 2,
    kinds: ['ww', 'wr', 'rw'],
    allows: (state, kind) => kind !== 'rw' || state.readWrite === 0,
    accepts: (state) => state.readWrite === 1,
    stateKey: (state) => `${state.readWrite}`,
  },
  'G-nonadjacent': {
    shortestPossible: 4,
    kinds: ['ww', 'wr', 'rw'],
    allows: (state, kind) => kind !== 'rw' || !state.lastIsReadWrite,
    accepts: (state) => state.readWrite >= 2 && !(state.firstIsReadWrite && state.lastIsReadWrite),
    stateKey: (state) => `${state.readWrite},${state.firstIsReadWrite},${state.lastIsReadWrite}`,
  },
  G2: {
    shortestPossible: 2,
    kinds: ['ww', 'wr', 'rw'],
    allows: () => true,
    accepts: (state) => state.readWrite >= 2,
    stateKey: (state) => `${state.readWrite}`,
  },
};

function shapeOf(type: CycleAnomalyType, withProcess: boolean): CycleShape<WalkState> {
  const rules = SHAPE_RULES[type];
  const kinds = new Set<EdgeKind>(withProcess ? [...rules.kinds, 'process'] : rules.kinds);
  return {
    kinds,
    shortestPossible: rules.shortestPossible,
    initial: START,
    step: (state, kind) => (kinds.has(kind) && rules.allows(state, kind) ? advance(state, kind) : undefined),
    accepts: (state) => rules.accepts(state),
    stateKey: (state) => rules.stateKey(state),
  };
}

export interface CycleSearchOptions {
  readonly types: readonly CycleAnomalyType[];
  /** The graph has process-order edges. */
  readonly processOrder: boolean;
}

export function findCycleAnomalies(graph: DependencyGraph, options: CycleSearchOptions): Anomaly[] {
  return options.types.flatMap((type) => findClassCycles(graph, type, options.processOrder));
}

function findClassCycles(graph: DependencyGraph, type: CycleAnomalyType, processOrder: boolean): Anomaly[] {
  const cycles = searchComponents(graph, shapeOf(type, false), new Set());
  if (processOrder) {
    const covered = new Set(cycles.flatMap((cycle) => cycle.map((edge) => edge.from)));
    cycles.push(...searchComponents(graph, shapeOf(type, true), covered));
  }
  return cycles.map((cycle) => cycleAnomaly(type, cycle));
}

/** One cycle of the shape per component of its edge kinds, skipping components that touch `covered`. */
function searchComponents(
  graph: DependencyGraph,
  shape: CycleShape<WalkState>,
  covered: ReadonlySet<TransactionId>,
): Cycle[] {
  const cycles: Cycle[] = [];
  for (const component of componentsOver(graph, shape.kinds)) {
    if (component.some((vertex) => covered.has(vertex))) continue;
    const cycle = findCycle(graph, component, shape);
    if (cycle !== undefined) cycles.push(cycle);
  }
  return cycles;
}

/** Strongly connected components of two or more vertices, using only edges of `kinds`; vertices sorted. */
function componentsOver(graph: DependencyGraph, kinds: ReadonlySet<EdgeKind>): TransactionId[][] {
  const successors = (vertex: TransactionId): TransactionId[] =>
    graph
      .outgoing(vertex)
      .filter((edge) => kinds.has(edge.kind))
      .map((edge) => edge.to);
  return stronglyConnectedComponents(graph.vertices(), successors)
    .filter((component) => component.length >= 2)
    .map((component) => component.sort((left, right) => left - right));
}

function cycleAnomaly(type: CycleAnomalyType, cycle: Cycle): Anomaly {
  const usesProcess = cycle.some((edge) => edge.kind === 'process');
  return anomaly(usesProcess ? `${type}-process` : type, explainCycle(type, cycle), cycle.map((edge) => edge.from));
}

export function explainCycle(type: CycleAnomalyType, cycle: Cycle): string {
  const path = [...cycle.map((edge) => formatTransaction(edge.from)), formatTransaction(cycle[0]?.from ?? 0)];
  const lines = cycle.map(
    (edge) => `  ${formatTransaction(edge.from)} -${edge.kind}-> ${formatTransaction(edge.to)}: ${edge.reason}`,
  );
  return [`${type} cycle ${path.join(' -> ')}`, ...lines].join('\n');
}
