//! The HTTP long-polling transport (engine.io-protocol v4, "HTTP long-polling"): one task
//! keeps a `GET` pending for what the server sends, another `POST`s what the client sends,
//! several packets to a body (separated by `0x1e`, binary as `b<base64>`), at most the
//! server's `maxPayload` bytes each, one request at a time (the server refuses a second
//! concurrent `POST`: engine.io's "overlap from client").
//!
//! Each task keeps one HTTP/1.1 keep-alive connection (hyper's client connection), opened
//! again when the server closed it.

use super::wire::{Event, Outbound, Packet, Tag};
use crate::client::error::ClientError;
use crate::client::options::{ClientOptions, ServerUrl};
use crate::packet::engine as eio;
use bytes::Bytes;
use http::{HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::task::JoinHandle;

/// The most packets one `POST` carries. The protocol sets no bound, but python-engineio
/// refuses a payload of more than 16 packets (`Payload.max_decode_packets`, "Too many packets
/// in payload", 400): a burst goes out in several `POST`s instead, one after the other, in
/// order. (The official JavaScript client sends the burst in one and fails there.)
const MAX_PACKETS_PER_POST: usize = 16;

/// One HTTP/1.1 connection to the server, reopened on demand.
pub(crate) struct Http {
    url: Arc<ServerUrl>,
    options: Arc<ClientOptions>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Http {
    /// A lane to the server of `url` (nothing is opened yet).
    pub fn new(url: Arc<ServerUrl>, options: Arc<ClientOptions>) -> Self {
        Self {
            url,
            options,
            sender: None,
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let transport = |what: &str, err: &dyn std::fmt::Display| {
            ClientError::Transport(format!("{what} {}: {err}", self.url.addr()))
        };
        let tcp = TcpStream::connect((self.url.bare_host(), self.url.port))
            .await
            .map_err(|e| transport("connect", &e))?;
        let _ = tcp.set_nodelay(true);
        if self.url.secure {
            let config = match &self.options.tls {
                Some(config) => config.clone(),
                None => wsx::tls::default_client_config().map_err(|e| transport("TLS", &e))?,
            };
            let name =
                wsx::tls::rustls::pki_types::ServerName::try_from(self.url.bare_host().to_owned())
                    .map_err(|e| transport("TLS server name", &e))?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| transport("TLS", &e))?;
            Self::handshake(tls).await
        } else {
            Self::handshake(tcp).await
        }
    }

    async fn handshake<S>(io: S) -> Result<SendRequest<Full<Bytes>>, ClientError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| ClientError::Transport(format!("HTTP: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends a request to `url` (absolute) and returns the body of its `200` answer.
    pub async fn request(
        &mut self,
        method: Method,
        url: &str,
        body: Option<String>,
    ) -> Result<Bytes, ClientError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|_| ClientError::InvalidUrl(url.to_owned()))?;
        let path = uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str)
            .to_owned();
        let build = || {
            let mut request = Request::builder().method(method.clone()).uri(path.as_str());
            if let Some(headers) = request.headers_mut() {
                headers.extend(self.options.extra_headers.clone());
                if let Ok(host) = HeaderValue::from_str(&self.url.addr()) {
                    headers.insert(http::header::HOST, host);
                }
                if body.is_some() {
                    headers.insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain;charset=UTF-8"),
                    );
                }
            }
            request
                .body(Full::new(Bytes::from(body.clone().unwrap_or_default())))
                .map_err(|e| ClientError::Transport(format!("HTTP request: {e}")))
        };
        // A kept-alive connection the server closed meanwhile gives the request back unsent:
        // then (only then) it goes again on a fresh connection.
        let mut request = build()?;
        let mut fresh = false;
        let response = loop {
            let kept = match self.sender.take() {
                Some(mut sender) => sender.ready().await.is_ok().then_some(sender),
                None => None,
            };
            let mut sender = match kept {
                Some(sender) => sender,
                None => {
                    fresh = true;
                    self.connect().await?
                }
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    self.sender = Some(sender);
                    break response;
                }
                Err(mut err) => match err.take_message() {
                    Some(back) if !fresh => request = back,
                    _ => {
                        return Err(ClientError::Transport(format!(
                            "HTTP {method} {}: {}",
                            self.url.addr(),
                            err.into_error()
                        )));
                    }
                },
            }
        };
        let status = response.status();
        let limit = self.options.max_message_size.saturating_mul(2).max(1 << 20);
        let bytes = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| ClientError::Transport(format!("HTTP body: {e}")))?
            .to_bytes();
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            return Err(ClientError::Http {
                status: status.as_u16(),
                body: text,
            });
        }
        Ok(bytes)
    }
}

/// Decodes a polling body into owned packets.
pub(crate) fn decode_body(body: &[u8]) -> Result<Vec<Packet>, ClientError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ClientError::Protocol("polling payload not UTF-8".into()))?;
    let packets =
        eio::decode_payload(text).map_err(|e| ClientError::Protocol(format!("payload: {e}")))?;
    Ok(packets.into_iter().map(Packet::from_eio).collect())
}

/// What the engine task tells the `GET` loop about the upgrade.
#[derive(Default)]
struct Control {
    /// Stop after the pending `GET` (the upgrade goes on).
    stop: AtomicBool,
    /// A probe is out on the WebSocket.
    probing: AtomicBool,
    changed: Notify,
}

/// A running polling transport: its `GET` loop and its `POST` writer.
pub(crate) struct Polling {
    control: Arc<Control>,
    poller: JoinHandle<()>,
    post: Option<UnboundedSender<Outbound>>,
}

impl Polling {
    /// Starts polling session `sid` with `get` (the lane the handshake used); everything the
    /// server sends goes to `events` tagged `tag`.
    pub fn start(
        get: Http,
        url: Arc<ServerUrl>,
        options: Arc<ClientOptions>,
        sid: &str,
        max_payload: usize,
        tag: Tag,
        events: UnboundedSender<(Tag, Event)>,
    ) -> Self {
        let control = Arc::new(Control::default());
        let poller = tokio::spawn(poll_loop(
            get,
            url.clone(),
            options.clone(),
            sid.to_owned(),
            control.clone(),
            tag,
            events.clone(),
        ));
        let (post, queue) = mpsc::unbounded_channel();
        let post_lane = Http::new(url.clone(), options.clone());
        tokio::spawn(post_loop(
            post_lane,
            url,
            options,
            sid.to_owned(),
            max_payload,
            queue,
            tag,
            events,
        ));
        Self {
            control,
            poller,
            post: Some(post),
        }
    }

    /// Queues packets for the next `POST`.
    pub fn send(&self, packets: Vec<Outbound>) -> Result<(), ClientError> {
        let post = self.post.as_ref().ok_or(ClientError::Closed)?;
        for packet in packets {
            post.send(packet).map_err(|_| ClientError::Closed)?;
        }
        Ok(())
    }

    /// Pauses for the upgrade: the `GET` loop ends after the pending request (the server
    /// ends it with a `noop` once it has the probe) with [`Event::Paused`], the writer after
    /// what is queued with [`Event::Drained`].
    pub fn pause(&mut self) {
        self.control.stop.store(true, Ordering::Release);
        self.control.changed.notify_waiters();
        self.post = None;
    }

    /// A probe is out (or is over): see the `GET` loop's wait after a noop.
    pub fn set_probing(&self, probing: bool) {
        self.control.probing.store(probing, Ordering::Release);
        self.control.changed.notify_waiters();
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

async fn poll_loop(
    mut http: Http,
    url: Arc<ServerUrl>,
    options: Arc<ClientOptions>,
    sid: String,
    control: Arc<Control>,
    tag: Tag,
    events: UnboundedSender<(Tag, Event)>,
) {
    loop {
        if control.stop.load(Ordering::Acquire) {
            let _ = events.send((tag, Event::Paused));
            return;
        }
        let target = url.engine_url(&options, "polling", Some(&sid));
        let packets = match http.request(Method::GET, &target, None).await {
            Ok(body) => decode_body(&body),
            Err(err) => Err(err),
        };
        let packets = match packets {
            Ok(packets) => packets,
            Err(err) => {
                let _ = events.send((tag, Event::Error(err)));
                return;
            }
        };
        let mut noop = false;
        for packet in packets {
            let close = matches!(packet, Packet::Close);
            noop |= matches!(packet, Packet::Noop);
            if events.send((tag, Event::Packet(packet))).is_err() || close {
                return;
            }
        }
        // A noop while a probe is out: the server has the probe and its `3probe` is on the
        // way on the WebSocket. Another `GET` now would wait for the server's next packet
        // (wsx-sio's and python-engineio's servers send the upgrade's noop once, Node's every
        // 100 ms), often the next ping, holding the upgrade that long: wait for the pause (or
        // the probe's failure) instead.
        if noop {
            loop {
                let changed = control.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if control.stop.load(Ordering::Acquire) || !control.probing.load(Ordering::Acquire)
                {
                    break;
                }
                changed.await;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn post_loop(
    mut http: Http,
    url: Arc<ServerUrl>,
    options: Arc<ClientOptions>,
    sid: String,
    max_payload: usize,
    mut queue: mpsc::UnboundedReceiver<Outbound>,
    tag: Tag,
    events: UnboundedSender<(Tag, Event)>,
) {
    let mut next: Option<Outbound> = None;
    loop {
        let first = match next.take() {
            Some(packet) => packet,
            None => match queue.recv().await {
                Some(packet) => packet,
                None => {
                    let _ = events.send((tag, Event::Drained));
                    return;
                }
            },
        };
        // engine.io-client's `_getWritablePackets`: as many packets as fit in maxPayload
        // (always at least one), and at most MAX_PACKETS_PER_POST.
        let mut size = first.payload_len();
        let mut body = String::with_capacity(size);
        first.encode_into(&mut body);
        let mut count = 1;
        while count < MAX_PACKETS_PER_POST
            && let Ok(packet) = queue.try_recv()
        {
            count += 1;
            let len = packet.payload_len() + 1;
            if size + len > max_payload {
                next = Some(packet);
                break;
            }
            size += len;
            body.push(eio::SEPARATOR);
            packet.encode_into(&mut body);
        }
        let target = url.engine_url(&options, "polling", Some(&sid));
        if let Err(err) = http.request(Method::POST, &target, Some(body)).await {
            let _ = events.send((tag, Event::Error(err)));
            return;
        }
    }
}
