/**
 * Tarjan's strongly connected components, iterative (no recursion, so long
 * dependency chains cannot overflow the stack).
 *
 * Every cycle of a directed graph lies inside one strongly connected component,
 * so the cycle search only has to look inside components of two or more vertices.
 */

interface VertexState {
  readonly order: number;
  lowLink: number;
  onStack: boolean;
}

interface Frame<Vertex> {
  readonly vertex: Vertex;
  readonly successors: Iterator<Vertex>;
}

export function stronglyConnectedComponents<Vertex>(
  vertices: Iterable<Vertex>,
  successors: (vertex: Vertex) => Iterable<Vertex>,
): Vertex[][] {
  const states = new Map<Vertex, VertexState>();
  const stack: Vertex[] = [];
  const components: Vertex[][] = [];

  const visit = (root: Vertex): void => {
    const frames: Frame<Vertex>[] = [];
    const enter = (vertex: Vertex): void => {
      states.set(vertex, { order: states.size, lowLink: states.size, onStack: true });
      stack.push(vertex);
      frames.push({ vertex, successors: successors(vertex)[Symbol.iterator]() });
    };
    enter(root);
    while (frames.length > 0) {
      const frame = frames.at(-1) as Frame<Vertex>;
      const state = states.get(frame.vertex) as VertexState;
      const next = frame.successors.next();
      if (!next.done) {
        const successor = states.get(next.value);
        if (successor === undefined) enter(next.value);
        else if (successor.onStack) state.lowLink = Math.min(state.lowLink, successor.order);
        continue;
      }
      frames.pop();
      const parent = frames.at(-1);
      if (parent !== undefined) {
        const parentState = states.get(parent.vertex) as VertexState;
        parentState.lowLink = Math.min(parentState.lowLink, state.lowLink);
      }
      if (state.lowLink === state.order) components.push(popComponent(frame.vertex, stack, states));
    }
  };

  for (const vertex of vertices) if (!states.has(vertex)) visit(vertex);
  return components;
}

function popComponent<Vertex>(root: Vertex, stack: Vertex[], states: Map<Vertex, VertexState>): Vertex[] {
  const component: Vertex[] = [];
  for (;;) {
    const vertex = stack.pop() as Vertex;
    (states.get(vertex) as VertexState).onStack = false;
    component.push(vertex);
    if (vertex === root) return component;
  }
}
