/**
 * Finds a short cycle of a given shape inside one strongly connected component.
 *
 * A shape is a small automaton over edge kinds: `step` says whether a walk in a
 * state may take an edge of some kind and in which state it ends up, `accepts`
 * whether a walk that has closed in that state is a cycle of the shape (e.g.
 * "exactly one rw edge"). For every start vertex a breadth-first search runs over
 * (vertex, state) pairs, so the first closing walk found from that start is a
 * shortest one with that start in the searched state space. Walks that visit a
 * vertex twice are not cycles and are skipped. The shortest cycle over all starts
 * is returned (a short cycle, not always the shortest: visited states are pruned).
 */
import type { DependencyGraph, Edge, EdgeKind } from './dependency-graph.js';
import type { TransactionId } from './history.js';

export interface CycleShape<State> {
  /** Every edge kind `step` can ever take. */
  readonly kinds: ReadonlySet<EdgeKind>;
  /** No cycle of the shape has fewer edges (the search stops at one this short). */
  readonly shortestPossible: number;
  readonly initial: State;
  /** The state after an edge of `kind`, or undefined when the shape forbids it here. */
  step(state: State, kind: EdgeKind): State | undefined;
  accepts(state: State): boolean;
  /** A string identifying the state, for the visited set. */
  stateKey(state: State): string;
}

interface SearchNode<State> {
  readonly vertex: TransactionId;
  readonly state: State;
  readonly edge: Edge | undefined;
  readonly parent: SearchNode<State> | undefined;
}

/** The cycle's edges in order (the last edge returns to the first edge's source). */
export type Cycle = readonly Edge[];

export function findCycle<State>(
  graph: DependencyGraph,
  component: readonly TransactionId[],
  shape: CycleShape<State>,
): Cycle | undefined {
  const members = new Set(component);
  let shortest: Cycle | undefined;
  for (const start of component) {
    const cycle = searchFrom(graph, members, shape, start);
    if (cycle !== undefined && (shortest === undefined || cycle.length < shortest.length)) shortest = cycle;
    if (shortest !== undefined && shortest.length <= shape.shortestPossible) break;
  }
  return shortest;
}

function searchFrom<State>(
  graph: DependencyGraph,
  members: ReadonlySet<TransactionId>,
  shape: CycleShape<State>,
  start: TransactionId,
): Cycle | undefined {
  const visited = new Set<string>([`${start}|${shape.stateKey(shape.initial)}`]);
  const queue: SearchNode<State>[] = [{ vertex: start, state: shape.initial, edge: undefined, parent: undefined }];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head] as SearchNode<State>;
    for (const edge of graph.outgoing(node.vertex)) {
      if (!members.has(edge.to)) continue;
      const state = shape.step(node.state, edge.kind);
      if (state === undefined) continue;
      const next: SearchNode<State> = { vertex: edge.to, state, edge, parent: node };
      if (edge.to === start) {
        const cycle = shape.accepts(state) ? simpleCycle(next) : undefined;
        if (cycle !== undefined) return cycle;
        continue;
      }
      const key = `${edge.to}|${shape.stateKey(state)}`;
      if (visited.has(key)) continue;
      visited.add(key);
      queue.push(next);
    }
  }
  return undefined;
}

/** The edges of the walk ending at `last`, or undefined if it visits a vertex twice. */
function simpleCycle<State>(last: SearchNode<State>): Cycle | undefined {
  const edges: Edge[] = [];
  const seen = new Set<TransactionId>();
  for (let node: SearchNode<State> | undefined = last; node?.edge !== undefined; node = node.parent) {
    if (seen.has(node.vertex)) return undefined;
    seen.add(node.vertex);
    edges.push(node.edge);
  }
  return edges.reverse();
}
