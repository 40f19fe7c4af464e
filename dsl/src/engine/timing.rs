//! Where a run's time went: each step's span from the start of the apply, and the
//! critical path, the dependency chain whose steps' own durations add up to the most. A
//! run whose wall time is close to its critical path cannot be made faster by running
//! more at once; only shorter steps on that chain help.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::Serialize;

/// When one step started (from the start of the apply) and how long it took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    /// From the start of the apply to the step's start.
    pub started: Duration,
    /// The step's own duration.
    pub took: Duration,
}

/// A run's timing: wall time, the critical path, and the provider calls it made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Timing {
    /// From the start of the apply to its end, in milliseconds.
    pub wall_ms: u128,
    /// The sum of the durations of the steps on the critical path, in milliseconds.
    pub critical_path_ms: u128,
    /// The steps on the critical path, first to last (phases one after another).
    pub critical_path: Vec<String>,
    /// Provider calls made during the run, by `service:Operation` (as the providers
    /// count them; empty for providers that do not).
    pub calls: BTreeMap<String, u64>,
}

impl Timing {
    /// All calls of the run.
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }
}

/// The longest chain through `deps` (for each node, the nodes it waits on) weighted by
/// `took`: its total and its nodes, first to last. Nodes on a cycle (which the walk never
/// runs) are left out, and so are nodes that weigh nothing at either end of the chain (a
/// step with nothing to do, before or after the ones that took the time).
pub(crate) fn longest_chain(deps: &[Vec<usize>], took: &[Duration]) -> (Duration, Vec<usize>) {
    let n = deps.len();
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut best = vec![Duration::ZERO; n];
    let mut via: Vec<Option<usize>> = vec![None; n];
    let mut end: Option<usize> = None;
    while let Some(i) = ready.pop_front() {
        let before = deps[i]
            .iter()
            .copied()
            .max_by_key(|&d| best[d])
            .filter(|&d| best[d] > Duration::ZERO);
        best[i] = before.map(|d| best[d]).unwrap_or_default() + took[i];
        via[i] = before;
        if end.is_none_or(|e| best[i] > best[e]) {
            end = Some(i);
        }
        for &j in &dependents[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.push_back(j);
            }
        }
    }
    let Some(last) = end else {
        return (Duration::ZERO, Vec::new());
    };
    let mut chain = vec![last];
    while let Some(p) = via[*chain.last().unwrap_or(&last)] {
        chain.push(p);
    }
    chain.reverse();
    (best[last], chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_chain_is_weighted_by_duration_not_by_length() {
        let ms = Duration::from_millis;
        // 0 -> 1 -> 2 (1 + 1 + 1 ms) and 0 -> 3 (1 + 10 ms); 4 stands alone (5 ms).
        let deps = vec![vec![], vec![0], vec![1], vec![0], vec![]];
        let took = vec![ms(1), ms(1), ms(1), ms(10), ms(5)];
        assert_eq!(longest_chain(&deps, &took), (ms(11), vec![0, 3]));
        // A join waits for its slowest dependency.
        let deps = vec![vec![], vec![], vec![0, 1]];
        let took = vec![ms(2), ms(7), ms(1)];
        assert_eq!(longest_chain(&deps, &took), (ms(8), vec![1, 2]));
        assert_eq!(longest_chain(&[], &[]), (Duration::ZERO, vec![]));
    }

    #[test]
    fn steps_that_weigh_nothing_at_either_end_are_left_off_the_chain() {
        let ms = Duration::from_millis;
        // 0 -> 1 -> 2 -> 3 -> 4, where only 2 took time (an update among unchanged steps)...
        let deps = vec![vec![], vec![0], vec![1], vec![2], vec![3]];
        let took = vec![ms(0), ms(0), ms(9), ms(0), ms(0)];
        assert_eq!(longest_chain(&deps, &took), (ms(9), vec![2]));
        // ...while one that weighs nothing between two that took time stays: the second
        // waited for the first through it.
        let took = vec![ms(0), ms(4), ms(0), ms(5), ms(0)];
        assert_eq!(longest_chain(&deps, &took), (ms(9), vec![1, 2, 3]));
    }
}
