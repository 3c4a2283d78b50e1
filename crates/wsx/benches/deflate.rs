//! permessage-deflate benchmarks: compress and inflate throughput on a realistic JSON corpus
//! (chat messages, presence updates and API objects, generated deterministically), the
//! compression ratio of each configuration, and the heap memory one connection's codec holds.
//!
//! Run: `cargo bench -p wsx --bench deflate` (everything), or with a filter:
//! `cargo bench -p wsx --bench deflate -- compress`. The ratio and memory tables are printed
//! first on every run; `-- memory` prints them and runs no timing.
//!
//! Throughput is counted in uncompressed bytes (for inflating: of the messages that were sent
//! compressed). The reference in the same run is zlib-rs on the whole corpus as one stream with a
//! single flush at the end (`whole_corpus`): the ceiling of per-message compression, which
//! flushes after every message.
#![allow(missing_docs, clippy::unwrap_used)] // criterion_group! generates undocumented items; a bench may panic

use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use wsx::Role;
use wsx::proto::Extension;
use wsx::proto::deflate::{CompressorMode, DeflateCodec, DeflateConfig, DeflateParams};

// ---------------------------------------------------------------------------------------------
// Heap accounting (used by the memory table; one relaxed atomic per allocation otherwise).

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// ---------------------------------------------------------------------------------------------
// The corpus.

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "the",
    "deploy",
    "is",
    "done",
    "can",
    "you",
    "check",
    "staging",
    "again",
    "lunch",
    "meeting",
    "moved",
    "to",
    "3pm",
    "thanks",
    "looks",
    "good",
    "merged",
    "PR",
    "ticket",
    "build",
    "failed",
    "on",
    "main",
    "retrying",
    "now",
    "ok",
    "great",
    "see",
    "logs",
    "please",
    "review",
    "my",
    "changes",
    "customer",
    "reported",
    "latency",
    "spike",
    "dashboard",
    "shows",
    "errors",
    "fixed",
];
const NAMES: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "zoe",
];
const ROOMS: &[&str] = &[
    "general",
    "random",
    "ops",
    "eng-backend",
    "eng-frontend",
    "sales",
];
const PRODUCTS: &[&str] = &[
    "Wireless Mouse",
    "USB-C Cable 2m",
    "Mechanical Keyboard",
    "27\" Monitor",
    "Laptop Stand",
    "Noise Cancelling Headphones",
    "Webcam 1080p",
    "Desk Lamp",
];
const CITIES: &[&str] = &[
    "Berlin",
    "Lisbon",
    "Osaka",
    "Toronto",
    "Nairobi",
    "Melbourne",
];

/// One message of the corpus: 70% chat messages, 20% presence/typing events, 10% API objects
/// (orders with line items), as a chat or dashboard app would send.
fn json_message(rng: &mut Rng, i: u64) -> String {
    let ts = 1_717_000_000_000u64 + i * 350 + rng.next() % 300;
    match rng.below(10) {
        0..=6 => {
            let words = 3 + rng.below(25);
            let text: Vec<&str> = (0..words).map(|_| rng.pick(WORDS)).collect();
            let reactions = if rng.below(4) == 0 {
                format!(
                    r#","reactions":[{{"emoji":"+1","count":{}}}]"#,
                    1 + rng.below(9)
                )
            } else {
                String::new()
            };
            format!(
                r#"{{"type":"message","id":"msg_{:016x}","room":"{}","user":{{"id":{},"name":"{}","avatar":"https://cdn.example.com/avatars/{}.png"}},"text":"{}","ts":{ts},"edited":{}{}}}"#,
                rng.next(),
                rng.pick(ROOMS),
                1000 + rng.below(500),
                rng.pick(NAMES),
                rng.pick(NAMES),
                text.join(" "),
                rng.below(20) == 0,
                reactions,
            )
        }
        7 | 8 => format!(
            r#"{{"type":"{}","room":"{}","user":"{}","ts":{ts}}}"#,
            if rng.below(2) == 0 {
                "typing"
            } else {
                "presence"
            },
            rng.pick(ROOMS),
            rng.pick(NAMES),
        ),
        _ => {
            let items: Vec<String> = (0..1 + rng.below(6))
                .map(|_| {
                    format!(
                        r#"{{"sku":"SKU-{:05}","name":"{}","quantity":{},"unit_price":{{"amount":{}.{:02},"currency":"EUR"}}}}"#,
                        rng.below(100_000),
                        rng.pick(PRODUCTS),
                        1 + rng.below(4),
                        5 + rng.below(400),
                        rng.below(100),
                    )
                })
                .collect();
            format!(
                r#"{{"type":"order.updated","data":{{"id":"ord_{:012x}","status":"{}","customer":{{"id":"cus_{:08x}","email":"{}@example.com","address":{{"city":"{}","country":"{}","postal_code":"{:05}"}}}},"items":[{}],"created_at":{ts},"updated_at":{}}}}}"#,
                rng.next() & 0xffff_ffff_ffff,
                ["pending", "paid", "shipped", "delivered"][rng.below(4)],
                rng.next() & 0xffff_ffff,
                rng.pick(NAMES),
                rng.pick(CITIES),
                ["DE", "PT", "JP", "CA", "KE", "AU"][rng.below(6)],
                rng.below(100_000),
                items.join(","),
                ts + 5000,
            )
        }
    }
}

/// The corpus: `count` messages.
fn corpus(count: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    (0..count)
        .map(|i| json_message(&mut rng, i).into_bytes())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Configurations.

struct Setup {
    name: &'static str,
    params: DeflateParams,
    config: DeflateConfig,
    /// Connections taking turns: message i goes out on connection i % turns (with a shared
    /// compressor every message then pays a reset and a priming with its connection's history).
    turns: usize,
}

/// Connections taking turns in the rows that measure it.
const TURNS: usize = 8;

fn setups() -> Vec<Setup> {
    let takeover = DeflateParams::default();
    let no_takeover = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateParams::default()
    };
    let bits = |b: u8| DeflateParams {
        server_max_window_bits: b,
        client_max_window_bits: b,
        ..DeflateParams::default()
    };
    let level = |l: u32| DeflateConfig {
        level: l,
        ..DeflateConfig::default()
    };
    let dedicated = DeflateConfig {
        compressor: CompressorMode::Dedicated,
        ..DeflateConfig::default()
    };
    let setup = |name, params, config, turns| Setup {
        name,
        params,
        config,
        turns,
    };
    vec![
        setup(
            "default (shared, takeover, 15 bits, level 1)",
            takeover,
            DeflateConfig::default(),
            1,
        ),
        setup(
            "default, 8 connections taking turns",
            takeover,
            DeflateConfig::default(),
            TURNS,
        ),
        setup("dedicated compressor", takeover, dedicated.clone(), 1),
        setup(
            "dedicated, 8 connections taking turns",
            takeover,
            dedicated,
            TURNS,
        ),
        setup("level 6", takeover, level(6), 1),
        setup("level 9", takeover, level(9), 1),
        setup("12 bits", bits(12), DeflateConfig::default(), 1),
        setup("9 bits", bits(9), DeflateConfig::default(), 1),
        setup(
            "no context takeover",
            no_takeover,
            DeflateConfig::default(),
            1,
        ),
        setup("no context takeover, level 6", no_takeover, level(6), 1),
    ]
}

/// One server codec per connection of `setup`.
fn codecs(setup: &Setup, role: Role) -> Vec<DeflateCodec> {
    (0..setup.turns)
        .map(|_| DeflateCodec::new(role, setup.params, &setup.config))
        .collect()
}

/// Compresses every message as a server would; returns (frames as sent, wire bytes).
fn compress_all(setup: &Setup, messages: &[Vec<u8>]) -> (Vec<(bool, Vec<u8>)>, usize) {
    let mut codecs = codecs(setup, Role::Server);
    let mut frames = Vec::with_capacity(messages.len());
    let mut wire = 0;
    for (i, message) in messages.iter().enumerate() {
        let mut out = BytesMut::new();
        // Frame header: 2 bytes up to 125, 4 up to 64 KiB.
        let sent = match codecs[i % setup.turns].encode(message, &mut out).unwrap() {
            Some(_) => (true, out.to_vec()),
            None => (false, message.clone()),
        };
        wire += sent.1.len() + if sent.1.len() < 126 { 2 } else { 4 };
        frames.push(sent);
    }
    (frames, wire)
}

fn print_ratios(messages: &[Vec<u8>]) {
    let plain: usize = messages
        .iter()
        .map(|m| m.len() + if m.len() < 126 { 2 } else { 4 })
        .sum();
    let payload: usize = messages.iter().map(Vec::len).sum();
    println!(
        "\ncorpus: {} JSON messages, {payload} bytes (mean {} bytes); {plain} bytes on the wire uncompressed",
        messages.len(),
        payload / messages.len()
    );
    println!(
        "{:<46} {:>12} {:>8}",
        "configuration", "wire bytes", "ratio"
    );
    for setup in setups() {
        let (_, wire) = compress_all(&setup, messages);
        println!(
            "{:<46} {:>12} {:>8.3}",
            setup.name,
            wire,
            wire as f64 / plain as f64
        );
    }
    // A broadcast compressed once for many connections (`Config::deflate_shared_broadcasts`):
    // each message from an empty window, level 1, 15 bits, messages under the default
    // threshold (64 bytes) plain; the same bytes for every recipient.
    let shared: usize = messages
        .iter()
        .map(|m| {
            if m.len() < 64 {
                m.len() + 2
            } else {
                wsx::proto::deflate::deflate_frame(wsx::proto::OpCode::Binary, m, 1, 15)
                    .unwrap()
                    .len()
            }
        })
        .sum();
    println!(
        "{:<46} {:>12} {:>8.3}",
        "broadcast deflated once (PreparedMessage)",
        shared,
        shared as f64 / plain as f64
    );
    for level in [1, 6] {
        let whole: Vec<u8> = messages.concat();
        let mut deflater = Compress::new_with_window_bits(Compression::new(level), false, 15);
        let mut out = Vec::with_capacity(whole.len());
        deflater
            .compress_vec(&whole, &mut out, FlushCompress::Finish)
            .unwrap();
        println!(
            "{:<46} {:>12} {:>8.3}",
            format!("reference: one stream, level {level}"),
            out.len(),
            out.len() as f64 / payload as f64
        );
    }
}

/// Heap bytes held by codecs: `n` server codecs (one connection each) after `warm` messages
/// each way (none: freshly negotiated; one: the compressor and inflater exist).
fn heap_per_connection(params: DeflateParams, config: &DeflateConfig, warm: bool) -> usize {
    const N: usize = 100;
    let message = corpus(1).remove(0);
    // The peer always compresses, so that the inflater is exercised.
    let mut peer = DeflateCodec::new(Role::Client, params, &DeflateConfig::default());
    let mut compressed = BytesMut::new();
    peer.encode(&message, &mut compressed).unwrap();
    // A shared compressor exists once per thread, not per connection: it is made before
    // counting (`print_memory` shows its size).
    DeflateCodec::new(Role::Server, params, config)
        .encode(&message, &mut BytesMut::new())
        .unwrap();
    let before = LIVE.load(Ordering::Relaxed);
    // Boxed, as a connection holds its extension.
    let mut codecs: Vec<Box<dyn Extension>> = Vec::with_capacity(N);
    for _ in 0..N {
        let mut codec = DeflateCodec::new(Role::Server, params, config);
        if warm {
            let mut out = BytesMut::new();
            codec.encode(&message, &mut out).unwrap();
            let mut inflated = BytesMut::new();
            codec
                .decode(&compressed, true, &mut inflated, 1 << 20)
                .unwrap();
        }
        codecs.push(Box::new(codec));
    }
    let held = LIVE.load(Ordering::Relaxed) - before - N * size_of::<Box<dyn Extension>>();
    black_box(&codecs);
    held / N
}

fn print_memory() {
    println!("\nheap per connection (server codec; 100 connections measured, counting allocator)");
    println!(
        "{:<44} {:>10} {:>14}",
        "configuration", "idle", "after traffic"
    );
    let row = |name: String, params: DeflateParams, config: DeflateConfig| {
        let idle = heap_per_connection(params, &config, false);
        let warm = heap_per_connection(params, &config, true);
        println!("{name:<44} {idle:>10} {warm:>14}");
    };
    let with_bits = |bits: u8| DeflateParams {
        server_max_window_bits: bits,
        client_max_window_bits: bits,
        ..DeflateParams::default()
    };
    let dedicated = DeflateConfig {
        compressor: CompressorMode::Dedicated,
        ..DeflateConfig::default()
    };
    for bits in [15u8, 12, 9] {
        row(
            format!("default (shared compressor), {bits} window bits"),
            with_bits(bits),
            DeflateConfig::default(),
        );
    }
    for bits in [15u8, 14, 13, 12, 11, 10, 9, 8] {
        row(
            format!("dedicated compressor, {bits} window bits"),
            with_bits(bits),
            dedicated.clone(),
        );
    }
    let no_takeover = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateParams::default()
    };
    row(
        "no context takeover, 15 bits".into(),
        no_takeover,
        DeflateConfig::default(),
    );
    row(
        "compress off (inflate only)".into(),
        DeflateParams::default(),
        DeflateConfig {
            compress: false,
            ..DeflateConfig::default()
        },
    );
    // The shared compressor itself: one per thread, whatever the number of connections.
    let first = std::thread::spawn(|| {
        let message = corpus(1).remove(0);
        let mut out = BytesMut::with_capacity(4096);
        let mut codec = DeflateCodec::new(
            Role::Server,
            DeflateParams::default(),
            &DeflateConfig::default(),
        );
        let before = LIVE.load(Ordering::Relaxed);
        codec.encode(&message, &mut out).unwrap();
        LIVE.load(Ordering::Relaxed).saturating_sub(before)
    })
    .join()
    .unwrap();
    println!(
        "shared compressor: the first message on a thread allocates {first} bytes (the thread's \
         compressor at 15 window bits, and the connection's history)"
    );
    println!();
}

// ---------------------------------------------------------------------------------------------
// Timings.

fn compress(c: &mut Criterion) {
    let messages = corpus(2000);
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("compress");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(20);
    for setup in setups() {
        group.bench_function(BenchmarkId::new("json_messages", setup.name), |b| {
            let mut codecs = codecs(&setup, Role::Server);
            let mut out = BytesMut::with_capacity(64 * 1024);
            b.iter(|| {
                for (i, message) in messages.iter().enumerate() {
                    out.clear();
                    let codec = &mut codecs[i % setup.turns];
                    black_box(codec.encode(black_box(message), &mut out).unwrap());
                }
            });
        });
    }
    let whole: Vec<u8> = messages.concat();
    group.bench_function(
        BenchmarkId::new("whole_corpus", "zlib-rs level 1, one stream"),
        |b| {
            let mut out = Vec::with_capacity(whole.len());
            b.iter(|| {
                let mut deflater = Compress::new_with_window_bits(Compression::new(1), false, 15);
                out.clear();
                deflater
                    .compress_vec(black_box(&whole), &mut out, FlushCompress::Finish)
                    .unwrap();
            });
        },
    );
    group.finish();

    // One large document.
    let document = format!("[{}]", String::from_utf8(messages.join(&b","[..])).unwrap());
    let mut group = c.benchmark_group("compress_large");
    group.throughput(Throughput::Bytes(document.len() as u64));
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("json_document", document.len()), |b| {
        let mut codec = DeflateCodec::new(
            Role::Server,
            DeflateParams::default(),
            &DeflateConfig::default(),
        );
        let mut out = BytesMut::with_capacity(document.len());
        b.iter(|| {
            out.clear();
            black_box(
                codec
                    .encode(black_box(document.as_bytes()), &mut out)
                    .unwrap(),
            );
        });
    });
    group.finish();
}

fn decompress(c: &mut Criterion) {
    let messages = corpus(2000);
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("decompress");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(20);
    for setup in setups() {
        let (frames, _) = compress_all(&setup, &messages);
        // Count the messages that are inflated (those under the threshold pass through).
        let inflated: usize = frames
            .iter()
            .zip(&messages)
            .filter(|((compressed, _), _)| *compressed)
            .map(|(_, m)| m.len())
            .sum();
        group.throughput(Throughput::Bytes(inflated as u64));
        group.bench_function(BenchmarkId::new("json_messages", setup.name), |b| {
            b.iter(|| {
                // A fresh receiver per pass: the stream depends on the sender's history.
                let mut codecs = codecs(&setup, Role::Client);
                let mut out = BytesMut::with_capacity(64 * 1024);
                for (i, (compressed, payload)) in frames.iter().enumerate() {
                    if *compressed {
                        out.clear();
                        codecs[i % setup.turns]
                            .decode(black_box(payload), true, &mut out, 1 << 20)
                            .unwrap();
                        black_box(&out);
                    }
                }
            });
        });
    }
    let whole: Vec<u8> = messages.concat();
    group.throughput(Throughput::Bytes(bytes as u64));
    let mut packed = Vec::with_capacity(whole.len());
    Compress::new_with_window_bits(Compression::new(1), false, 15)
        .compress_vec(&whole, &mut packed, FlushCompress::Finish)
        .unwrap();
    group.bench_function(
        BenchmarkId::new("whole_corpus", "zlib-rs, one stream"),
        |b| {
            let mut out = Vec::with_capacity(whole.len());
            b.iter(|| {
                let mut inflater = Decompress::new_with_window_bits(false, 15);
                out.clear();
                inflater
                    .decompress_vec(black_box(&packed), &mut out, FlushDecompress::Finish)
                    .unwrap();
            });
        },
    );
    group.finish();

    let document = format!("[{}]", String::from_utf8(messages.join(&b","[..])).unwrap());
    let mut sender = DeflateCodec::new(
        Role::Server,
        DeflateParams::default(),
        &DeflateConfig::default(),
    );
    let mut packed = BytesMut::new();
    sender.encode(document.as_bytes(), &mut packed).unwrap();
    let mut group = c.benchmark_group("decompress_large");
    group.throughput(Throughput::Bytes(document.len() as u64));
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("json_document", document.len()), |b| {
        let mut out = BytesMut::with_capacity(document.len());
        b.iter(|| {
            let mut codec = DeflateCodec::new(
                Role::Client,
                DeflateParams::default(),
                &DeflateConfig::default(),
            );
            out.clear();
            codec
                .decode(black_box(&packed), true, &mut out, 64 << 20)
                .unwrap();
        });
    });
    group.finish();
}

criterion_group!(benches, compress, decompress);

fn main() {
    let memory_only = std::env::args().skip(1).any(|a| a == "memory");
    let listing = std::env::args().any(|a| a == "--list");
    if !listing {
        print_ratios(&corpus(2000));
        print_memory();
    }
    if memory_only {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
