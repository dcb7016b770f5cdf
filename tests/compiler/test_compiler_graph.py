"""Cycles are named as paths; "upstream" means a direct or transitive dependency."""

from __future__ import annotations

from lambda_resolver.core.graph import TaskGraph


def graph(edges: dict[str, list[str]]) -> TaskGraph:
    return TaskGraph(list(edges), edges)


def test_a_dag_has_a_topological_order_and_no_cycles() -> None:
    g = graph({"a": [], "b": [], "c": ["a", "b"], "d": ["c"]})

    assert g.cycles() == []
    assert g.order.index("c") > max(g.order.index("a"), g.order.index("b"))
    assert g.order[-1] == "d"


def test_upstream_is_transitive_and_directional() -> None:
    g = graph({"a": [], "b": ["a"], "c": ["b"], "x": []})

    assert g.is_upstream("a", "c")
    assert g.is_upstream("b", "c")
    assert not g.is_upstream("c", "a")
    assert not g.is_upstream("x", "c")
    assert not g.is_upstream("c", "c")


def test_a_cycle_is_named_as_a_path_back_to_its_start() -> None:
    g = graph({"a": ["c"], "b": ["a"], "c": ["b"], "d": ["c"]})

    assert g.cycles() == [["a", "c", "b", "a"]]
    assert g.blocked == {"a", "b", "c", "d"}  # d is only downstream of the cycle


def test_a_task_depending_on_itself_is_a_cycle() -> None:
    assert graph({"a": ["a"]}).cycles() == [["a", "a"]]


def test_separate_cycles_are_each_reported_once() -> None:
    g = graph({"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"], "e": []})

    assert sorted(g.cycles()) == [["a", "b", "a"], ["c", "d", "c"]]


def test_a_long_chain_needs_no_recursion() -> None:
    n = 20_000
    keys = [f"t{i}" for i in range(n)]
    deps = {k: ([keys[i - 1]] if i else []) for i, k in enumerate(keys)}
    deps["t0"] = [keys[-1]]  # close the loop: one huge cycle
    g = TaskGraph(keys, deps)

    [cycle] = g.cycles()
    assert len(cycle) == n + 1
