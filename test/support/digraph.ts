/**
 * Directed-graph algorithms for the transaction-history checker (txn-history.ts), over an implicit
 * graph of numbered nodes whose edges carry a label `E`: Tarjan's strongly connected components
 * (iterative, O(V + E)) and breadth-first shortest paths.
 */

/**
 * A directed graph as the SCC and BFS code sees it: node u has `degree(u)` candidate edges, each
 * backed by a label (e.g. a dependency edge); `target` is -1 for a candidate that is not an edge of this graph.
 */
export interface Digraph<E> {
  size: number;
  degree(u: number): number;
  target(u: number, i: number): number;
  dep(u: number, i: number): E;
}

export interface Components {
  /** Component id per node. */
  comp: Int32Array;
  /** Size per component id. */
  size: number[];
}

/** Tarjan's strongly connected components, iteratively (an explicit call stack), in O(V + E). */
export function stronglyConnected<E>(g: Digraph<E>): Components {
  const n = g.size;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const cursor = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const comp = new Int32Array(n).fill(-1);
  const stack = new Int32Array(n);
  const calls = new Int32Array(n);
  const size: number[] = [];
  let sp = 0;
  let counter = 0;
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue;
    let cp = 0;
    const enter = (v: number): void => {
      index[v] = low[v] = counter++;
      stack[sp++] = v;
      onStack[v] = 1;
      cursor[v] = 0;
      calls[cp++] = v;
    };
    enter(root);
    while (cp > 0) {
      const u = calls[cp - 1]!;
      if (cursor[u]! < g.degree(u)) {
        const w = g.target(u, cursor[u]!++);
        if (w < 0) continue;
        if (index[w] === -1) enter(w);
        else if (onStack[w] === 1 && index[w]! < low[u]!) low[u] = index[w]!;
        continue;
      }
      cp--;
      if (low[u] === index[u]) {
        const id = size.length;
        let members = 0;
        let w: number;
        do {
          w = stack[--sp]!;
          onStack[w] = 0;
          comp[w] = id;
          members++;
        } while (w !== u);
        size.push(members);
      }
      if (cp > 0) {
        const parent = calls[cp - 1]!;
        if (low[u]! < low[parent]!) low[parent] = low[u]!;
      }
    }
  }
  return { comp, size };
}

/** Breadth-first search scratch space shared by all searches of one graph size (stamps avoid clearing). */
export class Bfs<E> {
  private readonly stamp: Int32Array;
  private readonly parent: Int32Array;
  private readonly via: Array<E | undefined>;
  private readonly queue: Int32Array;
  private epoch = 0;
  /** Edge visits so far. */
  visits = 0;
  constructor(size: number) {
    this.stamp = new Int32Array(size);
    this.parent = new Int32Array(size);
    this.via = new Array<E | undefined>(size);
    this.queue = new Int32Array(size);
  }

  /**
   * From `from`, the shortest path to a node `isGoal` accepts, as the edges taken; `undefined` if
   * none, or once `limit` edge visits are spent. `from` itself counts as a goal only when reached
   * again (then the path is a cycle).
   */
  search(g: Digraph<E>, from: number, isGoal: (u: number) => boolean, limit = Infinity): E[] | undefined {
    const e = ++this.epoch;
    let head = 0;
    let tail = 0;
    this.queue[tail++] = from;
    this.stamp[from] = e;
    while (head < tail) {
      const u = this.queue[head++]!;
      const deg = g.degree(u);
      for (let i = 0; i < deg; i++) {
        if (++this.visits > limit) return undefined;
        const w = g.target(u, i);
        if (w < 0) continue;
        if (isGoal(w)) {
          const path = [g.dep(u, i)];
          for (let x = u; x !== from; x = this.parent[x]!) path.push(this.via[x]!);
          return path.reverse();
        }
        if (this.stamp[w] === e) continue;
        this.stamp[w] = e;
        this.parent[w] = u;
        this.via[w] = g.dep(u, i);
        this.queue[tail++] = w;
      }
    }
    return undefined;
  }
}
