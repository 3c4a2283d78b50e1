//! The Redis adapter's tests (`tests/cluster.rs`, and the adapter's own) are compiled only with
//! `--features redis`, so a plain `cargo test --workspace` neither runs nor skips them: it
//! does not know they exist. This test says so in the output a person reads.

mod skip;

#[cfg(not(feature = "redis"))]
#[test]
fn the_redis_tests_need_the_redis_feature() {
    // Never a failure: CI and scripts/test_all.sh (which set WSX_REQUIRE_REDIS) run the
    // workspace without the feature and then this package with it, so they need no note.
    if skip::required("WSX_REQUIRE_REDIS") {
        return;
    }
    skip::note(
        "the Redis adapter and cluster tests are not built without the feature: run `cargo test -p wsx-sio --features redis` (scripts/test_all.sh does)",
    );
}
