//! A small dependency graph over names: topological order, cycle report and DOT output.
//! It knows nothing about resources; the engine builds on it.

use foldhash::{HashMap, HashSet};
use std::fmt::Write;

use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

/// A directed graph whose edges point from a dependency to its dependent.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    graph: DiGraph<String, ()>,
    index: HashMap<String, NodeIndex>,
}

impl Graph {
    /// Builds the graph from node names and `(dependency, dependent)` edges. Edges naming
    /// unknown nodes add them; repeated edges are kept once.
    pub fn from_edges<N, E>(nodes: N, edges: E) -> Graph
    where
        N: IntoIterator<Item = String>,
        E: IntoIterator<Item = (String, String)>,
    {
        let mut g = Graph::default();
        for n in nodes {
            g.node(n);
        }
        // `update_edge` scans a node's edges, which is quadratic for a wide fan; dedupe
        // with a set instead.
        let mut seen = HashSet::default();
        for (from, to) in edges {
            let a = g.node(from);
            let b = g.node(to);
            if seen.insert((a, b)) {
                g.graph.add_edge(a, b, ());
            }
        }
        g
    }

    fn node(&mut self, name: String) -> NodeIndex {
        if let Some(&i) = self.index.get(&name) {
            return i;
        }
        let i = self.graph.add_node(name.clone());
        self.index.insert(name, i);
        i
    }

    /// Every cycle, each as the names on it in dependency order, starting from the
    /// smallest name so the report is stable.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut cycles = Vec::new();
        // Kosaraju walks iteratively; petgraph's Tarjan recurses and overflows the stack on
        // long chains.
        for scc in kosaraju_scc(&self.graph) {
            let looped =
                scc.len() > 1 || scc.first().is_some_and(|&n| self.graph.contains_edge(n, n));
            if !looped {
                continue;
            }
            cycles.push(self.ordered_cycle(&scc));
        }
        cycles.sort();
        cycles
    }

    /// Walks one concrete cycle inside a strongly connected component.
    fn ordered_cycle(&self, scc: &[NodeIndex]) -> Vec<String> {
        let members: std::collections::HashSet<NodeIndex> = scc.iter().copied().collect();
        let start = *scc
            .iter()
            .min_by_key(|&&n| &self.graph[n])
            .expect("a component has a node");
        // Follow edges inside the component until a node repeats; every node of a strongly
        // connected component has a successor inside it.
        let mut path = vec![start];
        let mut seen: HashMap<NodeIndex, usize> = [(start, 0usize)].into_iter().collect();
        let mut current = start;
        loop {
            let next = self
                .graph
                .edges(current)
                .map(|e| e.target())
                .filter(|t| members.contains(t))
                .min_by_key(|&t| &self.graph[t])
                .expect("a cycle member has a successor in its component");
            if let Some(&at) = seen.get(&next) {
                let cycle: Vec<String> =
                    path[at..].iter().map(|&n| self.graph[n].clone()).collect();
                // Rotate so the smallest name comes first.
                let min = cycle
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, n)| *n)
                    .map(|(i, _)| i)
                    .unwrap_or(0);
                let mut rotated = cycle[min..].to_vec();
                rotated.extend_from_slice(&cycle[..min]);
                return rotated;
            }
            seen.insert(next, path.len());
            path.push(next);
            current = next;
        }
    }

    /// The graph in Graphviz DOT, edges pointing from dependency to dependent.
    pub fn to_dot(&self, title: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "digraph {} {{", quote(title));
        let _ = writeln!(out, "  rankdir=LR;");
        let mut names: Vec<&String> = self.graph.node_weights().collect();
        names.sort();
        for name in names {
            let _ = writeln!(out, "  {};", quote(name));
        }
        let mut edges: Vec<(&String, &String)> = self
            .graph
            .edge_references()
            .map(|e| (&self.graph[e.source()], &self.graph[e.target()]))
            .collect();
        edges.sort();
        for (a, b) in edges {
            let _ = writeln!(out, "  {} -> {};", quote(a), quote(b));
        }
        out.push_str("}\n");
        out
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(nodes: &[&str], edges: &[(&str, &str)]) -> Graph {
        Graph::from_edges(
            nodes.iter().map(|s| s.to_string()),
            edges.iter().map(|(a, b)| (a.to_string(), b.to_string())),
        )
    }

    #[test]
    fn reports_every_cycle_with_all_its_names() {
        let graph = g(
            &["a", "b", "c", "d", "e"],
            &[("a", "b"), ("b", "c"), ("c", "a"), ("d", "d"), ("c", "e")],
        );
        assert_eq!(
            graph.cycles(),
            vec![
                vec!["a".to_string(), "b".into(), "c".into()],
                vec!["d".to_string()]
            ]
        );
    }

    #[test]
    fn acyclic_graph_has_no_cycles_and_renders_dot() {
        let graph = g(&["vpc", "subnet"], &[("vpc", "subnet")]);
        assert!(graph.cycles().is_empty());
        let dot = graph.to_dot("s");
        assert!(dot.contains("\"vpc\" -> \"subnet\";"));
    }
}
