//! Waiting for the acknowledgements of a broadcast (`hub.to(room).timeout(d).emit_with_ack(..)`,
//! Node's `io.to(room).timeout(ms).emit(ev, data, (err, responses) => ..)` and
//! `emitWithAck`): every answer that arrives within the timeout is kept, and the result says
//! whether some did not come. What is counted comes from the adapter
//! ([`crate::adapter::AckBroadcast`]): this server's receivers, and what the other servers
//! report. Done as soon as every other server reported and every counted socket answered, or
//! at the timeout.

use crate::adapter::{AckBroadcast, AckReport, AckWait};
use crate::args::Args;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use std::time::Duration;

/// The answers to a broadcast with acknowledgements: Node's `(err, responses)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BroadcastAcks {
    /// Each acknowledgement that arrived in time (all its arguments; Node's `responses` holds
    /// each one's first), in arrival order.
    pub responses: Vec<Args>,
    /// Whether some socket did not answer within the timeout (or could not: it disconnected
    /// first, or a server did not report): Node's "operation has timed out" error.
    pub timed_out: bool,
}

/// Waits for the answers of a broadcast that was sent.
pub(crate) async fn collect(broadcast: AckBroadcast, timeout: Duration) -> BroadcastAcks {
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let AckBroadcast {
        local,
        other_servers,
        mut reports,
    } = broadcast;
    let mut expected_clients = local.len();
    let mut local: FuturesUnordered<AckWait> = local.into_iter().collect();
    let mut other_servers = Some(other_servers);
    let mut servers_expected: Option<usize> = None;
    let mut servers_reported = 0usize;
    let mut responses = Vec::with_capacity(expected_clients);
    loop {
        if servers_expected == Some(servers_reported) && responses.len() >= expected_clients {
            return BroadcastAcks {
                responses,
                timed_out: false,
            };
        }
        tokio::select! {
            () = &mut deadline => break,
            Some(answer) = local.next(), if !local.is_empty() => {
                // A socket that disconnected first never answers: the broadcast times out,
                // as in Node, with the answers that came.
                if let Ok(args) = answer {
                    responses.push(args);
                }
            }
            servers = async {
                match other_servers.as_mut() {
                    Some(count) => count.await,
                    None => std::future::pending().await,
                }
            }, if other_servers.is_some() => {
                other_servers = None;
                // When the other servers cannot be counted, completion cannot be known: the
                // timeout ends the wait.
                servers_expected = servers.ok();
            }
            report = async {
                match reports.as_mut() {
                    Some(reports) => reports.recv().await,
                    None => std::future::pending().await,
                }
            }, if reports.is_some() => {
                match report {
                    Some(AckReport::Clients(n)) => {
                        expected_clients += n;
                        servers_reported += 1;
                    }
                    Some(AckReport::Response(args)) => responses.push(args),
                    None => reports = None,
                }
            }
        }
    }
    // This server's waiters time out at the same moment; let them end (and forget their
    // ids) without holding the caller.
    if !local.is_empty() {
        tokio::spawn(async move { while local.next().await.is_some() {} });
    }
    BroadcastAcks {
        responses,
        timed_out: true,
    }
}
