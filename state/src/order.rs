//! Dependency order over indices: the one Kahn walk that the state's integrity check (is
//! there a cycle?) and the engine (is the declaration acyclic? in which order are resources
//! planned, and deleted?) share, so that both agree on what a cycle is.
//!
//! These paths run over every resource of a stack on every preview, so the graph is kept
//! flat: each node's dependencies are a slice of one shared list (no vector per node, no
//! name hashing once built), and a graph whose every edge points to an earlier index,
//! which is what declaring through handles produces, is ordered without a walk.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A dependency graph over the nodes `0..len`.
#[derive(Debug, Clone, Default)]
pub struct IndexGraph {
    /// `deps[offsets[i]..offsets[i + 1]]` are the nodes that node `i` depends on.
    offsets: Vec<u32>,
    deps: Vec<u32>,
    /// Whether every node depends only on nodes of lower index.
    forward: bool,
}

impl IndexGraph {
    /// The graph of `len` nodes with `(node, dependency)` edges, given in any order. Every
    /// index must be below `len`.
    pub fn from_edges(len: usize, edges: impl IntoIterator<Item = (usize, usize)>) -> Self {
        let edges: Vec<(u32, u32)> = edges
            .into_iter()
            .map(|(node, dep)| (index(node), index(dep)))
            .collect();
        let offsets = slots(len, edges.iter().map(|&(node, _)| node));
        let mut next = offsets.clone();
        let mut deps = vec![0u32; edges.len()];
        let mut forward = true;
        for &(node, dep) in &edges {
            forward &= dep < node;
            deps[next[node as usize] as usize] = dep;
            next[node as usize] += 1;
        }
        IndexGraph {
            offsets,
            deps,
            forward,
        }
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether some nodes depend on each other in a loop.
    pub fn has_cycle(&self) -> bool {
        !self.forward && !self.unplaced().is_empty()
    }

    /// The nodes on a cycle or depending on one (no order can place them), ascending;
    /// empty when the graph is acyclic.
    pub fn unplaced(&self) -> Vec<usize> {
        if self.forward {
            return Vec::new();
        }
        let (_, waiting) = self.walk(false);
        (0..self.len()).filter(|&i| waiting[i] > 0).collect()
    }

    /// Every node, dependencies before their dependents and otherwise in index order (the
    /// smallest such order). The nodes [`IndexGraph::unplaced`] names come last, in index
    /// order.
    pub fn order(&self) -> Vec<usize> {
        if self.forward {
            return (0..self.len()).collect();
        }
        let (mut order, waiting) = self.walk(true);
        order.extend((0..self.len()).filter(|&i| waiting[i] > 0));
        order
    }

    /// Kahn's algorithm: the nodes it places, in the order placed (the smallest ready
    /// index first when `smallest_first`), and each node's count of dependencies left
    /// unplaced (non-zero only on and behind cycles).
    fn walk(&self, smallest_first: bool) -> (Vec<usize>, Vec<u32>) {
        let len = self.len();
        // The dependents of each node, in the same flat form.
        let starts = slots(len, self.deps.iter().copied());
        let mut next = starts.clone();
        let mut dependents = vec![0u32; self.deps.len()];
        for node in 0..len {
            for &dep in &self.deps[self.offsets[node] as usize..self.offsets[node + 1] as usize] {
                dependents[next[dep as usize] as usize] = index(node);
                next[dep as usize] += 1;
            }
        }
        let mut waiting: Vec<u32> = (0..len)
            .map(|i| self.offsets[i + 1] - self.offsets[i])
            .collect();
        let mut ready = Ready::new(smallest_first);
        (0..len)
            .filter(|&i| waiting[i] == 0)
            .for_each(|i| ready.push(index(i)));
        let mut order = Vec::with_capacity(len);
        while let Some(node) = ready.pop() {
            order.push(node as usize);
            let node = node as usize;
            for &d in &dependents[starts[node] as usize..starts[node + 1] as usize] {
                waiting[d as usize] -= 1;
                if waiting[d as usize] == 0 {
                    ready.push(d);
                }
            }
        }
        (order, waiting)
    }
}

/// The nodes whose dependencies are all placed: a min-heap when the order matters, a
/// plain stack when only the count does.
enum Ready {
    Smallest(BinaryHeap<Reverse<u32>>),
    Any(Vec<u32>),
}

impl Ready {
    fn new(smallest_first: bool) -> Self {
        if smallest_first {
            Ready::Smallest(BinaryHeap::new())
        } else {
            Ready::Any(Vec::new())
        }
    }

    fn push(&mut self, node: u32) {
        match self {
            Ready::Smallest(heap) => heap.push(Reverse(node)),
            Ready::Any(stack) => stack.push(node),
        }
    }

    fn pop(&mut self) -> Option<u32> {
        match self {
            Ready::Smallest(heap) => heap.pop().map(|Reverse(n)| n),
            Ready::Any(stack) => stack.pop(),
        }
    }
}

/// Slot offsets for a flat list grouped by key: `offsets[k]..offsets[k + 1]` is where the
/// items of key `k` go (a counting sort's first half).
fn slots(len: usize, keys: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut offsets = vec![0u32; len + 1];
    for k in keys {
        offsets[k as usize + 1] += 1;
    }
    for i in 0..len {
        offsets[i + 1] += offsets[i];
    }
    offsets
}

/// Node indices are stored as `u32`: half the memory of `usize` on the hot paths, and a
/// stack cannot hold four billion resources in memory anyway.
fn index(i: usize) -> u32 {
    u32::try_from(i).expect("fewer than 2^32 nodes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declaration_order_that_respects_dependencies_is_kept() {
        let g = IndexGraph::from_edges(4, [(1, 0), (2, 0), (3, 1), (3, 2)]);
        assert!(!g.has_cycle());
        assert_eq!(g.order(), vec![0, 1, 2, 3]);
        assert!(g.unplaced().is_empty());
    }

    #[test]
    fn later_dependencies_move_ahead_and_ties_keep_index_order() {
        // 0 depends on 3, 1 on 0; 2 is free.
        let g = IndexGraph::from_edges(4, [(0, 3), (1, 0)]);
        assert!(!g.has_cycle());
        assert_eq!(g.order(), vec![2, 3, 0, 1]);
        assert!(g.unplaced().is_empty());
    }

    #[test]
    fn cycles_and_what_depends_on_them_are_unplaced_and_ordered_last() {
        // 0 and 1 form a cycle; 4 depends on 1; 3 depends on 2.
        let g = IndexGraph::from_edges(5, [(0, 1), (1, 0), (3, 2), (4, 1)]);
        assert!(g.has_cycle());
        assert_eq!(g.unplaced(), vec![0, 1, 4]);
        assert_eq!(g.order(), vec![2, 3, 0, 1, 4]);
        assert!(IndexGraph::from_edges(1, [(0, 0)]).has_cycle());
        let empty = IndexGraph::from_edges(0, []);
        assert!(empty.is_empty() && !empty.has_cycle());
    }
}
