//! The graph walk: runs a node as soon as everything it depends on has finished, up to a
//! concurrency bound; a failure skips its dependents only (naming it as their root cause)
//! and independent branches go on; a cancellation stops new nodes from starting while
//! running ones finish.

use std::collections::VecDeque;
use std::future::Future;

use tokio::sync::watch;
use tokio::task::JoinSet;

/// How one node of a walk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeOutcome {
    /// It ran and succeeded.
    Done,
    /// It ran and failed with this message.
    Failed(String),
    /// It did not run because the node at this index failed (the root cause, not the
    /// node in between).
    Skipped {
        /// Index of the failed node.
        root: usize,
    },
    /// It did not run because the walk was cancelled first.
    NotStarted,
}

/// Walks `deps.len()` nodes where `deps[i]` lists the nodes `i` waits for, running
/// `run(i)` for each with at most `parallelism` at once.
pub async fn walk<F, Fut>(
    deps: &[Vec<usize>],
    parallelism: usize,
    mut cancel: watch::Receiver<bool>,
    run: F,
) -> Vec<NodeOutcome>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let n = deps.len();
    let parallelism = parallelism.max(1);
    let mut outcomes: Vec<Option<NodeOutcome>> = vec![None; n];
    let mut waiting = vec![0usize; n];
    let mut dependents = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            if d < n && d != i {
                waiting[i] += 1;
                dependents[d].push(i);
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut running: JoinSet<(usize, Result<(), String>)> = JoinSet::new();

    loop {
        let cancelled = *cancel.borrow();
        while !cancelled && running.len() < parallelism {
            let Some(i) = ready.pop_front() else { break };
            let fut = run(i);
            running.spawn(async move { (i, fut.await) });
        }
        if running.is_empty() {
            break;
        }
        let joined = tokio::select! {
            joined = running.join_next() => joined,
            _ = cancel.changed(), if !cancelled => continue,
        };
        let Some(joined) = joined else { break };
        let (i, result) = match joined {
            Ok(pair) => pair,
            // A node's task panicked: the walk cannot tell which, so it is reported by the
            // outcome left unset (NotStarted) and the walk goes on with the others.
            Err(_) => continue,
        };
        match result {
            Ok(()) => {
                outcomes[i] = Some(NodeOutcome::Done);
                for &j in &dependents[i] {
                    waiting[j] -= 1;
                    if waiting[j] == 0 && outcomes[j].is_none() {
                        ready.push_back(j);
                    }
                }
            }
            Err(message) => {
                outcomes[i] = Some(NodeOutcome::Failed(message));
                skip_dependents(i, i, &dependents, &mut outcomes);
            }
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(NodeOutcome::NotStarted))
        .collect()
}

fn skip_dependents(
    root: usize,
    from: usize,
    dependents: &[Vec<usize>],
    outcomes: &mut [Option<NodeOutcome>],
) {
    let mut stack = vec![from];
    while let Some(i) = stack.pop() {
        for &j in &dependents[i] {
            if outcomes[j].is_none() {
                outcomes[j] = Some(NodeOutcome::Skipped { root });
                stack.push(j);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::Mutex;

    #[tokio::test]
    async fn failure_skips_only_dependents_and_names_the_root() {
        // 0 -> 1 -> 2, and 3 independent.
        let deps = vec![vec![], vec![0], vec![1], vec![]];
        let (_tx, rx) = watch::channel(false);
        let ran = Arc::new(Mutex::new(Vec::new()));
        let r = ran.clone();
        let out = walk(&deps, 4, rx, move |i| {
            let r = r.clone();
            async move {
                r.lock().unwrap().push(i);
                if i == 0 {
                    Err("boom".to_string())
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(out[0], NodeOutcome::Failed("boom".into()));
        assert_eq!(out[1], NodeOutcome::Skipped { root: 0 });
        assert_eq!(out[2], NodeOutcome::Skipped { root: 0 });
        assert_eq!(out[3], NodeOutcome::Done);
        let mut ran = ran.lock().unwrap().clone();
        ran.sort();
        assert_eq!(ran, vec![0, 3]);
    }

    #[tokio::test]
    async fn cancellation_stops_new_nodes() {
        let deps = vec![vec![], vec![0], vec![1]];
        let (tx, rx) = watch::channel(false);
        let tx = Arc::new(tx);
        let t = tx.clone();
        let out = walk(&deps, 1, rx, move |i| {
            let t = t.clone();
            async move {
                if i == 0 {
                    let _ = t.send(true);
                }
                Ok(())
            }
        })
        .await;
        assert_eq!(
            out,
            vec![
                NodeOutcome::Done,
                NodeOutcome::NotStarted,
                NodeOutcome::NotStarted
            ]
        );
    }
}
