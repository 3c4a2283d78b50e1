//! Masking (RFC 6455 §5.3): XOR of the payload with a 4-byte key, in place.
//!
//! The hot loop works on 128-byte blocks against a pre-rotated key block; LLVM turns it
//! into SIMD XORs on every target (SSE2 on baseline x86-64). On x86-64 CPUs with AVX2 (checked
//! at run time, once) the same loop is compiled a second time for AVX2: half the instructions
//! per block. Calling that copy is this module's one `unsafe` (see `apply_mask`).
#![deny(unsafe_code)]

/// Size of the blocks the fast path works on: 128 bytes let LLVM unroll the AVX2 loop to 256
/// bytes per turn (111 instructions per masked KiB against 119 with 64-byte blocks).
const BLOCK: usize = 128;

/// XORs `buf` with `key`, where `buf[0]` is byte number `offset` of the frame's payload (so a
/// payload can be unmasked piece by piece as it arrives). Masking and unmasking are the same
/// operation.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    #[cfg(target_arch = "x86_64")]
    if buf.len() >= 64 && std::arch::is_x86_feature_detected!("avx2") {
        // Measured (callgrind, 1 KiB echoed messages, issue 17): 263 instructions per 1 KiB
        // payload with SSE2, 136 with AVX2, the detection (one cached load) included. From 64
        // bytes: the AVX2 copy also vectorises the 8-byte tail loop.
        #[allow(unsafe_code)]
        // SAFETY: `mask_avx2` only needs the CPU to support AVX2, which was just checked.
        unsafe {
            mask_avx2(buf, key, offset);
        }
        return;
    }
    mask_blocks(buf, key, offset);
}

/// [`mask_blocks`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn mask_avx2(buf: &mut [u8], key: [u8; 4], offset: usize) {
    mask_blocks(buf, key, offset);
}

/// The portable loop, inlined into each caller so that it is vectorised for that caller's
/// target features.
// `always`: a plain `#[inline]` leaves LLVM free to call one baseline copy from `mask_avx2`,
// which would undo the point of it.
#[allow(clippy::inline_always)]
#[inline(always)]
fn mask_blocks(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // Rotate the key so that key[0] applies to buf[0].
    let key = u32::from_be_bytes(key)
        .rotate_left(8 * (offset % 4) as u32)
        .to_be_bytes();
    let mut blocks = buf.chunks_exact_mut(BLOCK);
    if blocks.len() > 0 {
        // The key repeated, built a word at a time (a byte loop here cost more than masking
        // a 1 KiB payload with it).
        let mut block = [0u8; BLOCK];
        for word in block.chunks_exact_mut(4) {
            word.copy_from_slice(&key);
        }
        for chunk in &mut blocks {
            for (b, k) in chunk.iter_mut().zip(block.iter()) {
                *b ^= k;
            }
        }
    }
    // BLOCK is a multiple of 8, so the rest starts key-aligned: 8-byte words first (a small
    // frame is all rest: two words for 16 bytes), then the last bytes.
    let key32 = u64::from(u32::from_ne_bytes(key));
    // The key twice, in memory order on either endianness.
    let word = key32 | (key32 << 32);
    let mut words = blocks.into_remainder().chunks_exact_mut(8);
    for chunk in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(i + offset) % 4];
        }
    }

    #[test]
    fn matches_naive_at_every_length_and_offset() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in [0, 1, 2, 3, 4, 5, 63, 64, 65, 127, 128, 129, 1000, 4099] {
            for offset in 0..8 {
                let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut slow = data.clone();
                naive(&mut slow, key, offset);
                // The dispatching entry point (AVX2 where the CPU has it) and the portable
                // loop on its own, so both are checked on any machine.
                let mut fast = data.clone();
                apply_mask(&mut fast, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
                let mut portable = data.clone();
                mask_blocks(&mut portable, key, offset);
                assert_eq!(portable, slow, "portable: len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn rfc_example_hello() {
        // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
        let mut data = *b"Hello";
        apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn piecewise_equals_whole() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut pieces = data.clone();
        let (a, rest) = pieces.split_at_mut(7);
        let (b, c) = rest.split_at_mut(130);
        apply_mask(a, key, 0);
        apply_mask(b, key, 7);
        apply_mask(c, key, 137);
        assert_eq!(whole, pieces);
    }
}
