//! Waiting for the acknowledgements of a broadcast (`hub.to(room).timeout(d).emit_with_ack(..)`,
//! Node's `io.to(room).timeout(ms).emit(ev, data, (err, responses) => ..)` and
//! `emitWithAck`): every answer that arrives within the timeout is kept, and the result says
//! whether some did not come. What is counted comes from the adapter
//! ([`crate::adapter::AckBroadcast`]): this server's receivers, and what the other servers
//! report. Done as soon as every other server reported and every counted socket answered, or
//! at the timeout.

use super::hub::BroadcastOperator;
use crate::adapter::{AckBroadcast, AckReport, AckWait};
use crate::args::Args;
use crate::error::EmitError;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use serde::Serialize;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How long [`BroadcastOperator::emit_with_ack`] waits without a
/// [`BroadcastOperator::timeout`]: 5 s, as [`crate::Config::ack_timeout`]'s default.
pub const DEFAULT_BROADCAST_ACK_TIMEOUT: Duration = Duration::from_secs(5);

impl BroadcastOperator {
    /// How long [`Self::emit_with_ack`] waits for the acknowledgements (Node's
    /// `timeout(ms)`); without it, [`DEFAULT_BROADCAST_ACK_TIMEOUT`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Emits `event` with one argument to the selected sockets, each asked for an
    /// acknowledgement, and waits for them at most the [`Self::timeout`] (Node's
    /// `io.to(room).timeout(ms).emitWithAck(..)`, or `emit` with a callback `(err,
    /// responses)`): the result holds every answer that arrived in time, and whether one
    /// did not ([`BroadcastAcks::timed_out`]). It completes as soon as every socket answered
    /// (at once when none was selected). Across servers, as `@socket.io/redis-adapter`: the
    /// other servers report how many sockets got it, then forward each answer. The packet
    /// is sent when this is called (the future only waits, and borrows nothing: spawn it or
    /// await it later), encoded once with one ack id for every receiver; a plain
    /// [`Self::emit`] pays for none of this.
    ///
    /// # Errors
    /// `data` is not JSON; or a networked adapter could not publish it (see
    /// [`Self::emit_args_with_ack`]).
    pub fn emit_with_ack(
        &self,
        event: &str,
        data: &impl Serialize,
    ) -> impl Future<Output = Result<BroadcastAcks, EmitError>> + Send + 'static {
        let sent = Args::one(data)
            .map_err(EmitError::from)
            .and_then(|args| self.send_with_ack(event, &args));
        wait_for_acks(sent)
    }

    /// Like [`Self::emit_with_ack`], with any arguments, binary included.
    ///
    /// # Errors
    /// A networked adapter could not publish the packet to the other servers
    /// ([`EmitError::Adapter`]; then no socket got it). Never for the in-memory adapter.
    pub fn emit_args_with_ack(
        &self,
        event: &str,
        args: Args,
    ) -> impl Future<Output = Result<BroadcastAcks, EmitError>> + Send + 'static {
        wait_for_acks(self.send_with_ack(event, &args))
    }

    /// Sends a broadcast with acknowledgements: what to wait for, and until when (the
    /// timeout runs from the call, not from the first poll).
    fn send_with_ack(
        &self,
        event: &str,
        args: &Args,
    ) -> Result<(AckBroadcast, Instant), EmitError> {
        let timeout = self.timeout.unwrap_or(DEFAULT_BROADCAST_ACK_TIMEOUT);
        let deadline = Instant::now() + timeout;
        let sent = self.hub.adapter().broadcast_with_ack(
            event,
            args,
            &self.opts,
            timeout,
            self.hub.host(),
        )?;
        Ok((sent, deadline))
    }
}

/// Waits for the answers of a broadcast sent (or fails with why it was not).
async fn wait_for_acks(
    sent: Result<(AckBroadcast, Instant), EmitError>,
) -> Result<BroadcastAcks, EmitError> {
    let (sent, deadline) = sent?;
    Ok(collect(sent, deadline).await)
}

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
async fn collect(broadcast: AckBroadcast, deadline: Instant) -> BroadcastAcks {
    let deadline = tokio::time::sleep_until(deadline);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::transport::Frame;
    use crate::namespace::test_support::{address, connected_socket, frames};

    #[tokio::test]
    async fn a_broadcast_with_acks_is_encoded_once_with_one_id_for_all() {
        let server = crate::Server::default();
        let hub = server.of("/").hub();
        let receivers: Vec<_> = (0..3).map(|_| connected_socket(&hub)).collect();
        // A socket's own pending ack (id 0) does not meet the broadcast's.
        let own = receivers[0].0.emit_with_ack("own", &0);
        drop(frames(&receivers[0].1));
        // Sent at the call, before the future is polled.
        let asking = hub.timeout(Duration::from_secs(5)).emit_with_ack("q", &1);
        let got: Vec<Vec<Frame>> = receivers.iter().map(|(_, conn)| frames(conn)).collect();
        for frames in &got {
            assert_eq!(frames.len(), 1);
            assert_eq!(address(&frames[0]), address(&got[0][0]));
        }
        let id = crate::namespace::ack::BROADCAST_ACK_IDS;
        assert!(matches!(&got[0][0], Frame::Text(t) if t.as_str() == format!(r#"42{id}["q",1]"#)));
        for (n, (socket, _)) in receivers.iter().enumerate() {
            socket.resolve_ack(id, Args::new().arg(n));
        }
        let acks = asking.await.expect("in memory");
        assert!(!acks.timed_out);
        assert_eq!(acks.responses.len(), 3);
        receivers[0].0.resolve_ack(0, Args::new().arg("mine"));
        assert_eq!(own.await.expect("answered"), Args::new().arg("mine"));
    }
}
