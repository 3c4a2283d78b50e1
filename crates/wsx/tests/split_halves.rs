//! A connection split into a read half and a write half owned by two tasks: both directions
//! run at full speed at once without deadlock, pings are answered by the read half while the
//! write half is busy, the halves reunite, and closing the write half is completed by the read
//! half.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use bytes::Bytes;
use common::{bind, url, within};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use wsx::{CloseCode, CloseFrame, Error, Message, WebSocket, WsReader, WsWriter};

/// Messages each side sends.
const N: usize = 10_000;
/// The client sends a ping after every this many messages.
const PING_EVERY: usize = 500;
const PINGS: usize = N / PING_EVERY;

/// Message `i` from `side`: its index first, then a filler of varying length (up to 1 KiB), so
/// that 7-bit and 16-bit length headers mix and a lost or reordered message shows.
fn message(side: &str, i: usize) -> Message {
    let mut text = format!("{side} {i:05} ");
    let filler = (i * 37) % 1024;
    text.extend((0..filler).map(|j| char::from(b'a' + ((i + j) % 26) as u8)));
    if i.is_multiple_of(3) {
        Message::binary(text.into_bytes())
    } else {
        Message::text(text)
    }
}

fn ping(k: usize) -> Bytes {
    Bytes::from(format!("ping {k}"))
}

/// Writes `N` messages, feeding them and flushing every 64. Before the last one it waits for
/// `hold`, if given.
async fn write_all(
    writer: &mut WsWriter<TcpStream>,
    side: &str,
    pings: bool,
    mut hold: Option<oneshot::Receiver<()>>,
) {
    for i in 0..N {
        if i == N - 1
            && let Some(hold) = hold.take()
        {
            writer.flush().await.unwrap();
            hold.await.unwrap();
        }
        writer.feed(message(side, i)).await.unwrap();
        if pings && i % PING_EVERY == PING_EVERY - 1 {
            writer
                .feed(Message::Ping(ping(i / PING_EVERY)))
                .await
                .unwrap();
        }
        if i % 64 == 63 {
            writer.flush().await.unwrap();
        }
    }
    writer.flush().await.unwrap();
}

/// What a read half saw.
#[derive(Debug, Default)]
struct Seen {
    data: usize,
    pings: Vec<Bytes>,
    pongs: Vec<Bytes>,
    /// Pongs that had arrived when the last data message came.
    pongs_before_last: usize,
}

/// Reads until `N` data messages (checked in order), `pongs` pongs and `pings` pings arrived.
/// When the last ping is seen, `on_pings` is fired.
async fn read_all(
    reader: &mut WsReader<TcpStream>,
    side: &str,
    pongs: usize,
    pings: usize,
    mut on_pings: Option<oneshot::Sender<()>>,
) -> Seen {
    let mut seen = Seen::default();
    // Bounded: every iteration consumes one message.
    for _ in 0..N + pings + pongs {
        if seen.data == N && seen.pongs.len() == pongs && seen.pings.len() == pings {
            break;
        }
        let received = reader
            .next()
            .await
            .expect("the stream ended early")
            .unwrap();
        match received {
            Message::Ping(payload) => {
                seen.pings.push(payload);
                if seen.pings.len() == pings
                    && let Some(tx) = on_pings.take()
                {
                    tx.send(()).unwrap();
                }
            }
            Message::Pong(payload) => seen.pongs.push(payload),
            data => {
                assert!(
                    data == message(side, seen.data),
                    "data message {} from {side} came out of order or changed",
                    seen.data
                );
                seen.data += 1;
                if seen.data == N {
                    seen.pongs_before_last = seen.pongs.len();
                }
            }
        }
    }
    assert_eq!(seen.data, N);
    seen
}

async fn both_directions_at_once() {
    let (listener, addr) = bind().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = wsx::accept(tcp).await.unwrap();
        let (mut reader, mut writer) = ws.split();
        // The server's last message waits until its read half has answered every ping, so
        // every pong is answered while the write half is still mid-stream.
        let (pinged_tx, pinged_rx) = oneshot::channel();
        let write = tokio::spawn(async move {
            write_all(&mut writer, "server", false, Some(pinged_rx)).await;
            writer
        });
        let read = tokio::spawn(async move {
            let seen = read_all(&mut reader, "client", 0, PINGS, Some(pinged_tx)).await;
            (reader, seen)
        });
        let writer = write.await.unwrap();
        let (reader, seen) = read.await.unwrap();
        let mut ws = reader.reunite(writer).unwrap();
        // The reunited connection still works: it completes the client's close handshake.
        let close = ws.next().await.unwrap().unwrap();
        assert!(ws.next().await.is_none());
        (seen, close, ws.close_code())
    });

    let (ws, _) = wsx::connect(&url(addr)).await.unwrap();
    let (mut reader, mut writer) = ws.split();
    let write = tokio::spawn(async move {
        write_all(&mut writer, "client", true, None).await;
        writer
    });
    let read = tokio::spawn(async move {
        let seen = read_all(&mut reader, "server", PINGS, 0, None).await;
        (reader, seen)
    });
    let writer = write.await.unwrap();
    let (reader, client_seen) = read.await.unwrap();
    let mut client = reader.reunite(writer).unwrap();
    client
        .close(Some(CloseFrame::new(CloseCode::NORMAL_CLOSURE, "done")))
        .await
        .unwrap();
    assert_eq!(client.close_code(), CloseCode::NORMAL_CLOSURE);

    let expected: Vec<Bytes> = (0..PINGS).map(ping).collect();
    assert_eq!(client_seen.pongs, expected, "every ping answered, in order");
    assert_eq!(
        client_seen.pongs_before_last, PINGS,
        "the pongs should come while the server's writer is still busy"
    );
    let (server_seen, close, code) = server.await.unwrap();
    assert_eq!(server_seen.data, N);
    assert_eq!(server_seen.pings, expected);
    assert_eq!(
        close,
        Message::Close(Some(CloseFrame::new(CloseCode::NORMAL_CLOSURE, "done")))
    );
    assert_eq!(code, CloseCode::NORMAL_CLOSURE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn halves_in_two_tasks_carry_both_directions_at_once_on_many_threads() {
    within(both_directions_at_once()).await;
}

#[tokio::test(flavor = "current_thread")]
async fn halves_in_two_tasks_carry_both_directions_at_once_on_one_thread() {
    within(both_directions_at_once()).await;
}

async fn pair() -> (WebSocket<TcpStream>, WebSocket<TcpStream>) {
    let (listener, addr) = bind().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        wsx::accept(tcp).await.unwrap()
    });
    let (client, _) = wsx::connect(&url(addr)).await.unwrap();
    (client, server.await.unwrap())
}

#[tokio::test]
async fn halves_of_different_connections_do_not_reunite() {
    within(async {
        let (a, _a_peer) = pair().await;
        let (b, _b_peer) = pair().await;
        let (a_reader, a_writer) = a.split();
        let (b_reader, b_writer) = b.split();
        let err = a_reader.reunite(b_writer).unwrap_err();
        // Both halves come back, and still belong together with their own partners.
        let (a_reader, b_writer) = (err.reader, err.writer);
        assert!(a_reader.reunite(a_writer).is_ok());
        assert!(b_reader.reunite(b_writer).is_ok());
    })
    .await;
}

#[tokio::test]
async fn closing_the_write_half_is_completed_by_the_read_half() {
    within(async {
        let (client, mut server) = pair().await;
        let (mut reader, mut writer) = client.split();
        let peer = tokio::spawn(async move {
            let close = server.next().await.unwrap().unwrap();
            assert!(server.next().await.is_none());
            close
        });
        // Sink::close sends a 1000 close frame and flushes it.
        futures_util::SinkExt::close(&mut writer).await.unwrap();
        let reply = reader.next().await.unwrap().unwrap();
        assert_eq!(
            reply,
            Message::Close(Some(CloseFrame::new(CloseCode::NORMAL_CLOSURE, "")))
        );
        assert!(reader.next().await.is_none());
        assert_eq!(
            peer.await.unwrap(),
            Message::Close(Some(CloseFrame::new(CloseCode::NORMAL_CLOSURE, "")))
        );
        let err = writer.send(Message::text("late")).await.unwrap_err();
        assert!(
            matches!(err, Error::ConnectionClosed | Error::AlreadyClosing),
            "{err:?}"
        );
    })
    .await;
}
