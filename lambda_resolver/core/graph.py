"""Graph checks on a flow's tasks: topological order, cycles, and "is X upstream of Y".

Everything is linear in tasks + edges except ancestry, which uses one big-int bitset per task
built in topological order (a 10,000-task chain needs ~6 MB and a few thousand big-int ORs),
so checking any number of ``{{tasks.X...}}`` references costs one bit test each.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence


class TaskGraph:
    """``deps[k]``: the keys ``k`` depends on (all of them known tasks), in declaration order."""

    def __init__(self, keys: Sequence[str], deps: dict[str, list[str]]) -> None:
        self.keys = list(keys)
        self.deps = deps
        self.index = {k: i for i, k in enumerate(self.keys)}
        self.order, self.blocked = self._topo()
        self._ancestors: dict[str, int] | None = None

    def _topo(self) -> tuple[list[str], set[str]]:
        """Kahn's algorithm; ``blocked`` holds tasks on or downstream of a cycle."""
        children: dict[str, list[str]] = {k: [] for k in self.keys}
        pending: dict[str, int] = {}
        for k in self.keys:
            uniq = set(self.deps.get(k, ()))
            pending[k] = len(uniq)
            for d in uniq:
                children[d].append(k)
        queue = deque(k for k in self.keys if pending[k] == 0)
        order: list[str] = []
        while queue:
            k = queue.popleft()
            order.append(k)
            for c in children[k]:
                pending[c] -= 1
                if pending[c] == 0:
                    queue.append(c)
        done = set(order)
        return order, {k for k in self.keys if k not in done}

    def cycles(self) -> list[list[str]]:
        """One cycle per strongly connected group of tasks, as ``[a, b, ..., a]`` (→ = depends on)."""
        if not self.blocked:
            return []
        out: list[list[str]] = []
        for comp in self._components(self.blocked):
            members = set(comp)
            start = min(comp, key=self.index.__getitem__)
            if len(comp) == 1 and start not in self.deps.get(start, ()):
                continue  # merely downstream of a cycle
            out.append(self._cycle_through(start, members))
        return out

    def _components(self, nodes: set[str]) -> list[list[str]]:
        """Tarjan's strongly connected components over ``nodes``, iteratively (no recursion limit)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        on_stack: set[str] = set()
        stack: list[str] = []
        comps: list[list[str]] = []
        counter = 0
        for root in sorted(nodes, key=self.index.__getitem__):
            if root in index:
                continue
            work = [(root, iter([d for d in self.deps.get(root, ()) if d in nodes]))]
            index[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on_stack.add(root)
            while work:
                node, it = work[-1]
                advanced = False
                for nxt in it:
                    if nxt not in index:
                        index[nxt] = low[nxt] = counter
                        counter += 1
                        stack.append(nxt)
                        on_stack.add(nxt)
                        work.append((nxt, iter([d for d in self.deps.get(nxt, ()) if d in nodes])))
                        advanced = True
                        break
                    if nxt in on_stack:
                        low[node] = min(low[node], index[nxt])
                if advanced:
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    comp: list[str] = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    comps.append(comp)
        return comps

    def _cycle_through(self, start: str, members: set[str]) -> list[str]:
        """The shortest dependency path from ``start`` back to itself inside one component."""
        prev: dict[str, str] = {}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for d in self.deps.get(node, ()):
                if d not in members:
                    continue
                if d == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if d not in prev:
                    prev[d] = node
                    queue.append(d)
        return [start, start]  # unreachable for a real component

    def is_upstream(self, ancestor: str, task: str) -> bool:
        """Whether ``task`` depends on ``ancestor``, directly or transitively (False inside cycles)."""
        if task in self.blocked or ancestor not in self.index:
            return False
        if self._ancestors is None:
            self._ancestors = self._build_ancestors()
        return bool(self._ancestors[task] >> self.index[ancestor] & 1)

    def _build_ancestors(self) -> dict[str, int]:
        anc: dict[str, int] = {}
        for k in self.order:
            bits = 0
            for d in self.deps.get(k, ()):
                bits |= anc[d] | (1 << self.index[d])
            anc[k] = bits
        return anc
