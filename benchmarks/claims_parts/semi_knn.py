"""The graph posteriors' neighbour searches side by side (docs/semi_supervised.md;
benchmarks/semi_supervised/measure_knn.py -> benchmarks/results/semi_supervised/knn.json)."""

from __future__ import annotations

from typing import Any

KNN_JSON = "benchmarks/results/semi_supervised/knn.json"
DOC = "docs/semi_supervised.md"


def _derive(data: dict[str, Any]) -> dict[str, Any]:
    g, q = data["graph"], data["query"]
    return {
        "graph_tree": f"{g['tree_seconds']:.2f}",
        "graph_brute": f"{g['brute_seconds']:.2f}",
        "graph_x": f"{g['speedup']:.0f}",
        "query_tree_ms": f"{1000 * q['tree_seconds']:.0f}",
        "query_brute_ms": f"{1000 * q['brute_seconds']:.0f}",
        "query_x": f"{q['speedup']:.0f}",
        "differ": f"{100 * (1 - q['neighbours_equal_fraction']):.1f}",
        "lists_differ": f"{100 * (1 - q['lists_equal_fraction']):.1f}",
    }


def claims(c: Any) -> list[Any]:
    return [
        c.Claim(
            DOC,
            "the tree built the {nodes:,}-node graph in {graph_tree} s against {graph_brute} s "
            "({graph_x}x) and found a {queries:,}-item pool subset's neighbours in "
            "{query_tree_ms} ms against {query_brute_ms} ms ({query_x}x). The two disagree on "
            "{differ}% of the neighbours ({lists_differ}% of the lists)",
            c.bench(KNN_JSON, _derive),
        )
    ]
