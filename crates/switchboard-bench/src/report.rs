//! What a load run measured, and how figures are written for people (a table)
//! and for programs (JSON).

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;

/// The outcome of one load run.
pub struct LoadReport {
    /// The load, in words.
    pub description: String,
    /// The measured window.
    pub window: Duration,
    /// Latency of every call that returned in the window, in nanoseconds.
    pub latencies: Histogram<u64>,
    /// Calls that failed or never returned (any error spoils the run).
    pub errors: u64,
    /// Why, for the first of them.
    pub first_error: Option<String>,
    /// The load generator's own CPU use over the window, % of one core.
    pub generator_cpu: f64,
    /// The router's (with its child processes), % of one core, when known.
    pub router_cpu: Option<f64>,
}

impl LoadReport {
    /// Adds another run of the same load: its calls join this one's latencies
    /// and window; errors add up, the first error seen stays, and CPU shares
    /// become the window-weighted mean.
    pub fn absorb(&mut self, other: LoadReport) {
        let (mine, theirs) = (self.window.as_secs_f64(), other.window.as_secs_f64());
        let weighted = |a: f64, b: f64| (a * mine + b * theirs) / (mine + theirs).max(f64::EPSILON);
        self.generator_cpu = weighted(self.generator_cpu, other.generator_cpu);
        self.router_cpu = match (self.router_cpu, other.router_cpu) {
            (Some(a), Some(b)) => Some(weighted(a, b)),
            (a, b) => a.or(b),
        };
        // Both histograms have the same bounds (one constructor), so adding cannot fail.
        let _ = self.latencies.add(&other.latencies);
        self.window += other.window;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// Calls that returned in the window.
    pub fn calls(&self) -> u64 {
        self.latencies.len()
    }

    /// Calls per second over the window.
    pub fn calls_per_second(&self) -> f64 {
        self.calls() as f64 / self.window.as_secs_f64()
    }

    /// The latency at quantile `q` (0.5 for the median).
    pub fn latency(&self, q: f64) -> Duration {
        Duration::from_nanos(self.latencies.value_at_quantile(q))
    }

    /// The slowest call.
    pub fn max_latency(&self) -> Duration {
        Duration::from_nanos(self.latencies.max())
    }

    /// The figures as one JSON object (latencies in microseconds).
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "load": self.description,
            "window_s": self.window.as_secs_f64(),
            "calls": self.calls(),
            "calls_per_s": self.calls_per_second(),
            "p50_us": micros(self.latency(0.5)),
            "p90_us": micros(self.latency(0.9)),
            "p99_us": micros(self.latency(0.99)),
            "max_us": micros(self.max_latency()),
            "errors": self.errors,
            "first_error": self.first_error,
            "generator_cpu_pct": self.generator_cpu,
            "router_cpu_pct": self.router_cpu,
        })
    }

    /// The figures as a small table, each beside the generator's CPU share.
    pub fn table(&self) -> String {
        let cpu = format!("(load generator CPU {})", percent(self.generator_cpu));
        let mut out = format!(
            "{}, {} s measured\n",
            self.description,
            self.window.as_secs_f64()
        );
        out += &format!(
            "  {:<10} {:>14}  {cpu}\n",
            "calls/s",
            rate(self.calls_per_second())
        );
        for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
            out += &format!("  {name:<10} {:>14}  {cpu}\n", duration(self.latency(q)));
        }
        out += &format!(
            "  {:<10} {:>14}  {cpu}\n",
            "max",
            duration(self.max_latency())
        );
        if let Some(router) = self.router_cpu {
            out += &format!("  {:<10} {:>14}\n", "router CPU", percent(router));
        }
        if self.errors > 0 {
            out += &format!(
                "  errors     {:>14}  first: {}\n",
                self.errors,
                self.first_error.as_deref().unwrap_or("?")
            );
        }
        out
    }
}

/// Microseconds, as a float.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `12 µs`, `1.23 ms`, `2.5 s`: three significant digits or so.
pub fn duration(d: Duration) -> String {
    let us = micros(d);
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// `45,123` (per second, rounded).
pub fn rate(per_second: f64) -> String {
    thousands(per_second.round() as u64)
}

/// `1,234,567`.
pub fn thousands(n: u64) -> String {
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

/// `95%`.
pub fn percent(p: f64) -> String {
    format!("{p:.0}%")
}

/// `12.3 KiB`.
pub fn bytes(b: f64) -> String {
    if b.abs() < 1024.0 {
        format!("{b:.0} B")
    } else if b.abs() < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_well() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(duration(Duration::from_micros(42)), "42 µs");
        assert_eq!(duration(Duration::from_micros(1234)), "1.23 ms");
        assert_eq!(bytes(16.0 * 1024.0), "16.0 KiB");
    }

    #[test]
    fn a_report_summarises_its_histogram() {
        let mut latencies = Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for us in 1..=100u64 {
            latencies.record(us * 1000).unwrap();
        }
        let report = LoadReport {
            description: "test".into(),
            window: Duration::from_secs(2),
            latencies,
            errors: 0,
            first_error: None,
            generator_cpu: 50.0,
            router_cpu: Some(80.0),
        };
        assert_eq!(report.calls_per_second(), 50.0);
        assert_eq!(report.latency(0.5).as_micros(), 50);
        assert_eq!(report.latency(0.99).as_micros(), 99);
        assert_eq!(report.max_latency().as_micros(), 100);
        assert_eq!(report.to_json()["router_cpu_pct"], 80.0);
        assert!(report.table().contains("load generator CPU 50%"));
    }
}
