//! `WebSocket::direct_writer`: frames written straight to an idle connection's socket by
//! another task, beside what the connection's own task writes, over real loopback sockets.
//! What a caller that queues its own messages gets (wsx-sio's outbox does this): its queue is
//! written by the connection's task, and a frame goes direct only when that queue is empty,
//! nothing of it is in flight and the connection's task is parked.

use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use wsx::proto::{OpCode, encode_server_frame};
use wsx::{CloseCode, CloseFrame, DirectWrite, DirectWriter, Message, WebSocket};

/// The caller's own queue: payloads waiting for the connection's task, and how many of those
/// it took and has not written out yet.
#[derive(Default)]
struct Queue {
    waiting: VecDeque<String>,
    in_flight: usize,
}

struct Sender {
    queue: Mutex<Queue>,
    notify: Notify,
    writer: DirectWriter,
}

impl Sender {
    /// Sends one text message: direct when nothing of ours waits and the writer takes it,
    /// queued for the connection's task otherwise. Returns whether it went direct.
    fn send(&self, payload: String) -> bool {
        let mut queue = self.queue.lock().expect("lock");
        if queue.waiting.is_empty() && queue.in_flight == 0 {
            let frame = encode_server_frame(OpCode::Text, payload.as_bytes());
            if self.writer.try_write(&frame) == DirectWrite::Written {
                return true;
            }
        }
        queue.waiting.push_back(payload);
        drop(queue);
        self.notify.notify_one();
        false
    }
}

/// A server connection and a client that has not read anything yet.
async fn pair() -> (WebSocket<TcpStream>, WebSocket<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}", listener.local_addr().expect("addr"));
    let (client, server) = tokio::join!(wsx::connect(&url), async {
        let (tcp, _) = listener.accept().await.expect("accept");
        wsx::accept(tcp).await.expect("server handshake")
    });
    (server, client.expect("client handshake").0)
}

/// The connection's task: reads (parked there when idle), writes out the caller's queue, and
/// on `close` sends a close frame and goes on reading until the close handshake ends.
async fn run(mut ws: WebSocket<TcpStream>, sender: Arc<Sender>, close: oneshot::Receiver<()>) {
    let mut close = Some(close);
    loop {
        tokio::select! {
            item = ws.next() => if item.is_none() { return },
            () = sender.notify.notified() => {
                let batch: Vec<String> = {
                    let mut queue = sender.queue.lock().expect("lock");
                    let batch: Vec<String> = queue.waiting.drain(..).collect();
                    queue.in_flight += batch.len();
                    batch
                };
                let n = batch.len();
                for payload in batch {
                    ws.feed(Message::text(payload)).await.expect("feed");
                }
                ws.flush().await.expect("flush");
                sender.queue.lock().expect("lock").in_flight -= n;
            }
            Ok(()) = async { close.as_mut().expect("once").await }, if close.is_some() => {
                close = None;
                ws.feed(Message::Close(Some(CloseFrame::new(CloseCode::NORMAL_CLOSURE, "bye"))))
                    .await
                    .expect("close");
                ws.flush().await.expect("flush");
            }
        }
    }
}

/// Reads text messages until `n` arrived or the connection ended.
async fn read(client: &mut WebSocket<TcpStream>, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        match client.next().await {
            Some(Ok(Message::Text(text))) => got.push(text.as_str().to_owned()),
            None => break,
            Some(Ok(_)) => {}
            Some(Err(err)) => panic!("client: {err}"),
        }
    }
    got
}

/// Waits until the connection's task wrote out the queue, and a little longer (it parks).
async fn wait_drained(sender: &Sender) {
    loop {
        {
            let queue = sender.queue.lock().expect("lock");
            if queue.waiting.is_empty() && queue.in_flight == 0 {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
}

fn numbered(i: usize) -> String {
    // 4 KiB messages: a burst of thousands (16 MiB) fills the socket buffers, so a frame is
    // written in part and the next ones queue behind its rest.
    format!("{i:06}{}", "x".repeat(4090))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_to_a_client_that_does_not_read_arrives_whole_and_in_order() {
    let (mut server, mut client) = pair().await;
    let writer = server
        .direct_writer()
        .expect("a plain TCP server connection");
    let sender = Arc::new(Sender {
        queue: Mutex::new(Queue::default()),
        notify: Notify::new(),
        writer,
    });
    let (_close, rx) = oneshot::channel();
    let task = tokio::spawn(run(server, sender.clone(), rx));
    const N: usize = 4000;
    // The first arms the writer (it goes through the queue); once the connection's task has
    // written it and parked, the burst goes direct until the socket is full, then queues.
    assert!(!sender.send(numbered(0)));
    wait_drained(&sender).await;
    let mut direct = 0;
    for i in 1..N {
        direct += usize::from(sender.send(numbered(i)));
    }
    let got = read(&mut client, N).await;
    assert_eq!(got.len(), N);
    for (i, text) in got.iter().enumerate() {
        assert_eq!(text, &numbered(i), "message {i} out of order or torn");
    }
    // Both ways were taken: direct writes (the test checks their order), and queued ones
    // (the first arms the writer; a full socket sends the rest through the queue).
    assert!(direct > 0, "no message went direct");
    assert!(direct < N, "every message went direct");
    eprintln!("{direct} of {N} written directly");
    drop(client);
    let _ = task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_goes_direct_after_the_close_frame() {
    let (mut server, mut client) = pair().await;
    let writer = server
        .direct_writer()
        .expect("a plain TCP server connection");
    let sender = Arc::new(Sender {
        queue: Mutex::new(Queue::default()),
        notify: Notify::new(),
        writer: writer.clone(),
    });
    let (close, rx) = oneshot::channel();
    let task = tokio::spawn(run(server, sender.clone(), rx));
    // Armed by the first, then direct while the task is parked.
    assert!(!sender.send(numbered(0)));
    let mut sent = 1;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        sent += 1;
        if sender.send(numbered(sent - 1)) {
            break;
        }
    }
    assert!(
        sent < 100,
        "the parked connection never took a direct write"
    );
    close.send(()).expect("task alive");
    // The task queues its close frame and then reads for the client's answer: parked, but
    // past its close frame, so nothing may go direct any more.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let frame = encode_server_frame(OpCode::Text, b"after the close");
    for _ in 0..10 {
        assert_eq!(writer.try_write(&frame), DirectWrite::NotWritten);
    }
    let got = read(&mut client, usize::MAX).await;
    assert_eq!(
        got.len(),
        sent,
        "everything before the close, nothing after"
    );
    assert_eq!(client.close_code(), CloseCode::NORMAL_CLOSURE);
    drop(client);
    let _ = task.await;
}

#[tokio::test]
async fn a_client_or_a_split_connection_has_no_direct_writer() {
    let (mut server, mut client) = pair().await;
    assert!(
        client.direct_writer().is_none(),
        "a client masks its frames"
    );
    let writer = server.direct_writer().expect("server");
    let (_reader, _writer) = server.split();
    let frame = Bytes::from_static(b"\x81\x01x");
    for _ in 0..3 {
        assert_eq!(writer.try_write(&frame), DirectWrite::NotWritten);
    }
}
