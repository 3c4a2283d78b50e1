//! The Redis Streams adapter's wire format (feature `redis`), wire-compatible with Node's
//! `@socket.io/redis-streams-adapter` 0.3: the one Node adapter that supports connection
//! state recovery across servers, because every server reads one ordered log (a Redis
//! stream) instead of fire-and-forget pub/sub, so a packet's position in the log is an offset
//! any server can resume from.
//!
//! What is here now: the stream entries ([`entry`]: fields, JSON or base64 MessagePack,
//! which messages go to the stream and which over pub/sub, offsets) and the session keys
//! ([`session`]), each checked against what the Node adapter writes. The adapter that reads
//! and writes them, and its place in connection state recovery, are designed below and not
//! built yet (issue 27 §3).
//!
//! # The protocol (Node's `lib/adapter.ts`, `lib/util.ts`, 0.3.1)
//! - One stream, `socket.io` (`streamName`), for every namespace. A server publishes with
//!   `XADD <stream> MAXLEN ~ 10000 * uid .. nsp .. type .. data ..` (almost-exact trimming:
//!   `maxLen` bounds memory and with it the recovery window in packets) the messages that
//!   must not be lost across a Redis reconnection: broadcasts without acknowledgements,
//!   `socketsJoin`, `socketsLeave`, `disconnectSockets`.
//! - Each server reads it on a connection of its own with `XREAD BLOCK 5000 COUNT 100
//!   STREAMS <stream> <last id>`, starting at `$` (only what comes after it started), and
//!   resumes from the last id it saw after an error: nothing is missed while Redis is
//!   reachable again within `maxLen` entries.
//! - The other messages ("ephemeral": requests, answers, broadcasts with acknowledgements)
//!   go over classic pub/sub, MessagePack-encoded, on `socket.io#<nsp>#` (every server) and
//!   `socket.io#<nsp>#<uid>#` (the answers to one server's requests), and servers are
//!   counted with `PUBSUB NUMSUB socket.io#<nsp>#`, as in the sharded adapter's protocol
//!   (`super::sharded`, whose message types and codecs this reuses).
//! - A broadcast's offset is its entry id (`<ms>-<seq>`): the sender learns it from `XADD`
//!   and appends it to the packet before delivering to its own sockets; every other server
//!   appends the id it read. So all servers hand a client the same offset.
//! - `persistSession` stores `{sid, pid, rooms, data}` under `sio:session:<pid>` for the
//!   recovery window; `restoreSession(pid, offset)` takes the key (`GET`+`DEL`), checks that
//!   `offset` is still in the stream (`XRANGE s offset offset`), then reads on with `XRANGE s
//!   next(offset) +` (at most 100 calls) and keeps the broadcasts of the namespace that
//!   reached the session's rooms ([`entry::reached`]), each with its entry id appended.
//!
//! # Fitting wsx-sio's recovery (`crate::recovery`)
//! Two things in wsx-sio's recovery path assume one server, and change with this adapter:
//! - The offset: the namespace makes one up (`recovery::new_offset`) before the adapter
//!   sees the packet, and local delivery never waits on the network. For an offset any
//!   server (a Node one included) can resume from, it must be the entry id, so with this
//!   adapter and recovery on, an emit is delivered locally once its `XADD` answered (the
//!   adapter appends the id and pushes the frames), as Node does: the one place where local
//!   delivery waits on Redis (about one round trip), and the price of cross-server
//!   recovery. It needs a hook from the namespace's emit to the adapter ("this adapter
//!   assigns offsets").
//! - The store: [`crate::RecoveryStore::restore`] answers synchronously, and this one must
//!   ask Redis (the session key lives there: the socket may have been on a Node server).
//!   It needs an asynchronous restore (a boxed future, the memory store answering at once).
//!
//! # Recovery storms (socket.io discussion #5423)
//! In Node every recovering client reads the stream on its own: 1,000 clients coming back
//! together after a server died cost 1,000 `GET`+`DEL` and at least 2,000 `XRANGE`s over
//! the same entries. The design for wsx-sio: every server already reads every entry with its
//! `XREAD` loop, so it keeps the decoded tail it read (bounded by `maxLen` entries and the
//! recovery window) in a per-server ring indexed by entry id. A restore whose offset lies in
//! the ring (the common case: the server was up when the client was lost) reads no stream
//! at all; only one older than the ring's start reads Redis, and concurrent restores share
//! one `XRANGE` per missing span (a single-flight map keyed by start id). Session keys are
//! taken in batches: restores that arrive within a millisecond are pipelined into one
//! `MULTI` of `GET`s and `DEL`s. So 1,000 recovering clients cost one round trip of session
//! reads per batch and no `XRANGE` when the ring covers them.

#![cfg_attr(not(test), allow(dead_code))] // the adapter that uses the codecs is not built yet

pub(crate) mod entry;
pub(crate) mod session;
