//! How long one call's registration lookup takes with 100,000 registrations.
//! Run with `scripts/bench-matching` (release build); prints a table.

use std::hint::black_box;
use std::time::Instant;

use switchboard_core::matching::{MatchPolicy, UriIndex};

const REGISTRATIONS: usize = 100_000;
const LOOKUPS: usize = 1_000_000;

fn main() {
    let mut index = UriIndex::default();
    // A realistic mix: half exact, a quarter prefix, a quarter wildcard,
    // spread over 100 services with 4-5 components each.
    for i in 0..REGISTRATIONS {
        let service = i % 100;
        match i % 4 {
            0 | 1 => index.insert(
                &format!("com.example.svc{service}.proc{i}"),
                MatchPolicy::Exact,
                i,
            ),
            2 => index.insert(
                &format!("com.example.svc{service}.group{i}"),
                MatchPolicy::Prefix,
                i,
            ),
            _ => index.insert(
                &format!("com.example.svc{service}..op{i}"),
                MatchPolicy::Wildcard,
                i,
            ),
        };
    }
    type UriFor = fn(usize) -> String;
    let cases: [(&str, UriFor); 4] = [
        (
            "exact hit",
            (|i| {
                format!(
                    "com.example.svc{}.proc{}",
                    (i * 4) % 100,
                    (i * 4) % REGISTRATIONS
                )
            }),
        ),
        (
            "prefix hit",
            (|i| {
                format!(
                    "com.example.svc{}.group{}.x.y",
                    (i * 4 + 2) % 100,
                    (i * 4 + 2) % REGISTRATIONS
                )
            }),
        ),
        (
            "wildcard hit",
            (|i| {
                format!(
                    "com.example.svc{}.any.op{}",
                    (i * 4 + 3) % 100,
                    (i * 4 + 3) % REGISTRATIONS
                )
            }),
        ),
        (
            "miss",
            (|i| format!("com.example.svc{}.nothing{i}", i % 100)),
        ),
    ];
    println!("{REGISTRATIONS} registrations, {LOOKUPS} lookups per case (release build)");
    println!("{:<14} {:>12} {:>10}", "case", "ns/lookup", "found");
    for (name, uri_for) in &cases {
        let uris: Vec<String> = (0..1000).map(*uri_for).collect();
        let started = Instant::now();
        let mut found = 0usize;
        for i in 0..LOOKUPS {
            if black_box(index.best_match(black_box(&uris[i % uris.len()]))).is_some() {
                found += 1;
            }
        }
        let per_lookup = started.elapsed().as_nanos() as f64 / LOOKUPS as f64;
        println!(
            "{name:<14} {per_lookup:>12.0} {:>9.0}%",
            found as f64 * 100.0 / LOOKUPS as f64
        );
    }
}
