//! CPU use over the measured window, from Linux's `/proc` (absent elsewhere: the summary
//! leaves those fields out): how busy each core was (softirq included, so the kernel's
//! loopback TCP work counts on the core that did it), the steal share, and the CPU time of
//! this process and of the server process (`--server-pid`).
//!
//! Shares are ratios of `/proc/stat` counters, so no clock-tick rate is needed: a process's
//! share of one CPU is its ticks divided by the ticks one CPU had in the window.

/// One reading of the counters.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Per core: (busy, total) ticks.
    cores: Vec<(u64, u64)>,
    /// Steal ticks, all cores.
    steal: u64,
    /// Total ticks, all cores.
    total: u64,
    /// utime + stime of this process.
    client: Option<u64>,
    /// utime + stime of the server process.
    server: Option<u64>,
}

/// Shares over a window, in percent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// Busy share of each core.
    pub cores: Vec<f64>,
    /// Steal share, averaged over the cores.
    pub steal: f64,
    /// This process, percent of one CPU.
    pub client: Option<f64>,
    /// The server process, percent of one CPU.
    pub server: Option<f64>,
}

/// Parses `/proc/stat`'s per-core lines: `cpuN user nice system idle iowait irq softirq steal`.
fn parse_stat(text: &str) -> (Vec<(u64, u64)>, u64, u64) {
    let mut cores = Vec::new();
    let (mut steal, mut total) = (0, 0);
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some(name) if name.len() > 3 && name.starts_with("cpu") => {}
            _ => continue,
        }
        let v: Vec<u64> = fields.take(8).filter_map(|x| x.parse().ok()).collect();
        if v.len() < 8 {
            continue;
        }
        let all: u64 = v.iter().sum();
        // Busy: everything but idle (3), iowait (4) and steal (7).
        cores.push((all - v[3] - v[4] - v[7], all));
        steal += v[7];
        total += all;
    }
    (cores, steal, total)
}

/// utime + stime from a `/proc/PID/stat` line (fields 14 and 15; the command name may hold
/// spaces and parentheses, so count from the last `)`).
fn parse_proc_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn proc_ticks(pid: &str) -> Option<u64> {
    parse_proc_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

impl Sample {
    /// Reads the counters now.
    pub fn take(server_pid: Option<u32>) -> Self {
        let (cores, steal, total) = std::fs::read_to_string("/proc/stat")
            .map(|t| parse_stat(&t))
            .unwrap_or_default();
        Self {
            cores,
            steal,
            total,
            client: proc_ticks("self"),
            server: server_pid.and_then(|p| proc_ticks(&p.to_string())),
        }
    }

    /// The shares between `earlier` and this sample; `None` without `/proc/stat`.
    pub fn since(&self, earlier: &Sample) -> Option<Usage> {
        if self.cores.is_empty() || self.cores.len() != earlier.cores.len() {
            return None;
        }
        let pct = |part: u64, whole: u64| {
            if whole == 0 {
                0.0
            } else {
                part as f64 * 100.0 / whole as f64
            }
        };
        let cores: Vec<f64> = self
            .cores
            .iter()
            .zip(&earlier.cores)
            .map(|((b, t), (b0, t0))| pct(b.saturating_sub(*b0), t.saturating_sub(*t0)))
            .collect();
        let total = self.total.saturating_sub(earlier.total);
        // Ticks of one CPU over the window.
        let one_cpu = total / self.cores.len() as u64;
        let process = |now: Option<u64>, then: Option<u64>| match (now, then) {
            (Some(a), Some(b)) => Some(pct(a.saturating_sub(b), one_cpu)),
            _ => None,
        };
        Some(Usage {
            cores,
            steal: pct(self.steal.saturating_sub(earlier.steal), total),
            client: process(self.client, earlier.client),
            server: process(self.server, earlier.server),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse() {
        let text = "cpu  10 0 10 80 0 0 0 0 0 0\ncpu0 5 0 5 40 0 0 0 0 0 0\ncpu1 5 0 5 30 5 0 0 5 0 0\nintr 1\n";
        let (cores, steal, total) = parse_stat(text);
        assert_eq!(cores, vec![(10, 50), (10, 50)]);
        assert_eq!((steal, total), (5, 100));
    }

    #[test]
    fn usage_is_a_ratio_of_ticks() {
        let a = Sample {
            cores: vec![(0, 0), (0, 0)],
            steal: 0,
            total: 0,
            client: Some(0),
            server: None,
        };
        let b = Sample {
            cores: vec![(50, 100), (100, 100)],
            steal: 2,
            total: 200,
            client: Some(25),
            server: None,
        };
        let u = b.since(&a).expect("usage");
        assert_eq!(u.cores, vec![50.0, 100.0]);
        assert_eq!(u.steal, 1.0);
        assert_eq!(u.client, Some(25.0));
        assert_eq!(u.server, None);
    }

    #[test]
    fn proc_stat_with_odd_command_names() {
        let line = "42 (a) b (c) S 1 2 3 4 5 6 7 8 9 10 11 30 12 0 0";
        assert_eq!(parse_proc_ticks(line), Some(41));
    }
}
