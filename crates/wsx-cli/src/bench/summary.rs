//! The end of a run: the summary for people, or one JSON object for scripts (field names as
//! the yardstick's wsload has them where they mean the same, so one report script reads both).

use super::stats::{Errors, Latency, RunStats};
use super::{BenchArgs, Opcode, cpu};
use serde_json::{Value, json};
use std::time::Duration;

/// `1234567.8` as `1,234,568`.
pub(super) fn thousands(v: f64) -> String {
    let n = v.max(0.0).round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `v` rounded to `places` decimals (for JSON that stays readable).
pub(super) fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

/// The summary: JSON, or text for people.
pub(super) fn summarize(
    args: &BenchArgs,
    total: &RunStats,
    conns_ok: usize,
    connect_time: Duration,
    elapsed: Duration,
    usage: Option<&cpu::Usage>,
    opcode: Opcode,
) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = total.messages as f64 / secs;
    let mb = rate * f64::from(args.size) / 1e6;
    let lat = Latency::of(&total.hist);
    let opcode_name = match opcode {
        Opcode::Binary => "binary",
        Opcode::Text => "text",
    };
    if args.json {
        let mut out = json!({
            "label": args.label,
            "mode": if args.raw { "raw" } else { "ws" },
            "url": args.target_url(),
            "conns": args.conns,
            "conns_ok": conns_ok,
            "size": args.size,
            "pipeline": args.pipeline,
            "opcode": opcode_name,
            "rate": args.rate,
            "threads": args.threads,
            "warmup_s": args.warmup.as_secs_f64(),
            "duration_s": round(secs, 3),
            "connect_s": round(connect_time.as_secs_f64(), 3),
            "mb_per_sec": round(mb, 3),
        });
        add_results_json(&mut out, total, rate, &lat);
        add_usage_json(&mut out, usage);
        return out.to_string();
    }
    let mut text = format!(
        "wsx bench {}: {} conns × {} B {opcode_name}, pipeline {}{}, {:.1} s measured after {:.1} s warm-up\n",
        args.target_url(),
        args.conns,
        args.size,
        args.pipeline,
        args.rate
            .map_or(String::new(), |r| format!(", rate {} msg/s", thousands(r))),
        secs,
        args.warmup.as_secs_f64(),
    );
    text += &format!(
        "  connections  {conns_ok}/{} up in {:.3} s\n",
        args.conns,
        connect_time.as_secs_f64()
    );
    text += &format!(
        "  messages     {} = {} msg/s, {:.2} MB/s (payload, one way)\n",
        thousands(total.messages as f64),
        thousands(rate),
        mb
    );
    text += &format!(
        "  round trip   p50 {:.1} µs · p90 {:.1} µs · p99 {:.1} µs · max {:.1} µs · mean {:.1} µs\n",
        lat.p50, lat.p90, lat.p99, lat.max, lat.mean
    );
    text += &errors_line(&total.errors);
    if let Some(u) = usage {
        text += &usage_line(u);
    }
    text
}

/// The figures both summaries give in their JSON: messages, rate, latency, errors.
pub(super) fn add_results_json(out: &mut Value, total: &RunStats, rate: f64, lat: &Latency) {
    let Value::Object(map) = out else { return };
    let fields = [
        ("messages", json!(total.messages)),
        ("msgs_per_sec", json!(round(rate, 1))),
        ("p50_us", json!(round(lat.p50, 1))),
        ("p90_us", json!(round(lat.p90, 1))),
        ("p99_us", json!(round(lat.p99, 1))),
        ("max_us", json!(round(lat.max, 1))),
        ("mean_us", json!(round(lat.mean, 1))),
        ("errors", json!(total.errors.total())),
        ("errors_by_kind", errors_json(&total.errors)),
        ("first_error", json!(total.errors.first())),
    ];
    for (key, value) in fields {
        map.insert(key.into(), value);
    }
}

/// Adds the CPU figures of the run (`usage`, when measured) to the JSON summary `out`.
pub(super) fn add_usage_json(out: &mut Value, usage: Option<&cpu::Usage>) {
    if let (Some(u), Value::Object(map)) = (usage, out) {
        let cores: Vec<f64> = u.cores.iter().map(|c| round(*c, 1)).collect();
        map.insert("cpu_busy_pct".into(), json!(cores));
        map.insert("steal_pct".into(), json!(round(u.steal, 1)));
        map.insert(
            "client_cpu_pct".into(),
            json!(u.client.map(|c| round(c, 1))),
        );
        map.insert(
            "server_cpu_pct".into(),
            json!(u.server.map(|c| round(c, 1))),
        );
    }
}

/// The summary's CPU line (after the errors line): each core's busy share, this process's and
/// the server's when its pid was given.
pub(super) fn usage_line(u: &cpu::Usage) -> String {
    let cores: Vec<String> = u.cores.iter().map(|c| format!("{c:.0}%")).collect();
    let mut line = format!(
        "\n  cpu          cores busy [{}], this process {}",
        cores.join(" "),
        u.client.map_or("?".into(), |c| format!("{c:.0}%"))
    );
    if let Some(s) = u.server {
        line += &format!(", server {s:.0}%");
    }
    line
}

/// Errors by kind as a JSON object: `{"io": 2, "stuck": 1}`.
pub(super) fn errors_json(errors: &Errors) -> Value {
    let map: serde_json::Map<String, Value> = errors
        .by_kind()
        .map(|(k, n)| (k.to_owned(), json!(n)))
        .collect();
    Value::Object(map)
}

/// The summary's errors line: `none`, or the count, the kinds and the first error.
pub(super) fn errors_line(errors: &Errors) -> String {
    if errors.total() == 0 {
        return "  errors       none".into();
    }
    let kinds: Vec<String> = errors.by_kind().map(|(k, n)| format!("{k} {n}")).collect();
    format!(
        "  errors       {} ({}); first: {}",
        errors.total(),
        kinds.join(", "),
        errors.first().unwrap_or("?")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(-5.0), "0");
        assert_eq!(round(1.23456, 2), 1.23);
    }

    #[test]
    fn errors_are_listed_by_kind() {
        let mut errors = Errors::default();
        assert_eq!(errors_line(&errors), "  errors       none");
        errors.add(super::super::stats::Kind::Stuck, "no echo");
        errors.add(super::super::stats::Kind::Io, "reset");
        assert_eq!(errors_json(&errors), json!({"io": 1, "stuck": 1}));
        assert_eq!(
            errors_line(&errors),
            "  errors       2 (io 1, stuck 1); first: stuck: no echo"
        );
    }
}
