//! Criterion micro-benchmarks of the protocol core: unmasking (against `memcpy` of the same
//! size, measured in the same run), frame header decode/encode, UTF-8 validation, and decoding
//! a stream of small masked frames.
//!
//! Run: `cargo bench -p wsx --bench core`
#![allow(missing_docs)] // criterion_group! generates undocumented items

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use wsx::proto::frame::{FrameHeader, MAX_HEADER_LEN, OpCode};
use wsx::proto::mask::apply_mask;
use wsx::proto::utf8::Utf8Validator;
use wsx::proto::{Decoder, Encoder, Limits, Role, WriteBuffer};

fn masking(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    for size in [16usize, 1024, 64 * 1024, 1024 * 1024] {
        group.throughput(Throughput::Bytes(size as u64));
        let src = vec![0x5au8; size];
        let mut buf = vec![0u8; size];
        group.bench_with_input(BenchmarkId::new("apply_mask", size), &size, |b, _| {
            b.iter(|| apply_mask(black_box(&mut buf), [1, 2, 3, 4], 0));
        });
        group.bench_with_input(BenchmarkId::new("memcpy", size), &size, |b, _| {
            b.iter(|| black_box(&mut buf).copy_from_slice(black_box(&src)));
        });
    }
    group.finish();
}

fn headers(c: &mut Criterion) {
    let mut group = c.benchmark_group("header");
    for len in [5u64, 300, 70_000] {
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: Some([1, 2, 3, 4]),
            payload_len: len,
        };
        let mut out = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut out);
        group.bench_with_input(BenchmarkId::new("encode", len), &len, |b, _| {
            b.iter(|| black_box(&header).encode(black_box(&mut out)));
        });
        group.bench_with_input(BenchmarkId::new("decode", len), &len, |b, _| {
            b.iter(|| FrameHeader::decode(black_box(&out[..n])));
        });
    }
    group.finish();
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    let ascii = "hello, world! ".repeat(64 * 1024 / 14);
    let mixed = "κόσμε € 𝄞 ascii ".repeat(64 * 1024 / 24);
    for (name, text) in [("ascii", &ascii), ("mixed", &mixed)] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(BenchmarkId::new("streaming_4k_chunks", name), |b| {
            b.iter(|| {
                let mut v = Utf8Validator::new();
                for chunk in text.as_bytes().chunks(4096) {
                    v.feed(black_box(chunk)).ok();
                }
                v.finish(&[]).is_ok()
            });
        });
        group.bench_function(BenchmarkId::new("std_from_utf8", name), |b| {
            b.iter(|| std::str::from_utf8(black_box(text.as_bytes())).is_ok());
        });
    }
    group.finish();
}

fn decode_stream(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_stream");
    for size in [16usize, 1024, 64 * 1024] {
        // 64 masked client frames back to back, decoded by a server.
        let mut encoder = Encoder::new(Role::Client);
        let mut out = WriteBuffer::new();
        let payload = Bytes::from(vec![b'a'; size]);
        for _ in 0..64 {
            encoder.frame(true, 0, OpCode::Binary, payload.clone(), &mut out);
        }
        let wire = out.chunk().to_vec();
        group.throughput(Throughput::Bytes((size * 64) as u64));
        group.bench_with_input(
            BenchmarkId::new("server_decode_64_frames", size),
            &size,
            |b, _| {
                let mut decoder = Decoder::new(Role::Server, Limits::default(), 64 * 1024);
                b.iter(|| {
                    decoder.extend(&wire);
                    let mut n = 0;
                    while let Ok(Some(message)) = decoder.decode() {
                        black_box(&message);
                        n += 1;
                    }
                    assert_eq!(n, 64);
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, masking, headers, utf8, decode_stream);
criterion_main!(benches);
