//! What the kernel knows about a process: CPU time and resident memory, read
//! from `/proc`, summed over the process and its descendants (Crossbar.io runs
//! its router in a worker process under a node controller, so measuring only the
//! process we started would miss the router).

use std::time::{Duration, Instant};

use anyhow::Context;

/// The process ids of `root` and all its descendants.
pub fn process_tree(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, stat_fields(pid).ok()?.ppid)))
        .collect();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    tree
}

struct Stat {
    ppid: u32,
    /// utime + stime, in clock ticks.
    cpu_ticks: u64,
}

fn stat_fields(pid: u32) -> anyhow::Result<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields we want follow its ')'.
    let rest = &text[text.rfind(')').context("malformed stat")? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): ppid is field 4, utime 14, stime 15.
    let field =
        |n: usize| -> anyhow::Result<u64> { Ok(fields.get(n - 3).context("short stat")?.parse()?) };
    Ok(Stat {
        ppid: field(4)? as u32,
        cpu_ticks: field(14)? + field(15)?,
    })
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Which processes a measurement covers.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// One process alone (the load generator: its routers are its children).
    Process(u32),
    /// A process and its descendants (a router).
    Tree(u32),
}

impl Scope {
    fn pids(self) -> Vec<u32> {
        match self {
            Scope::Process(pid) => vec![pid],
            Scope::Tree(root) => process_tree(root),
        }
    }
}

/// CPU time (user + system) used so far by the processes of `scope`.
pub fn cpu_time(scope: Scope) -> Duration {
    let ticks: u64 = scope
        .pids()
        .into_iter()
        .filter_map(|p| stat_fields(p).ok())
        .map(|s| s.cpu_ticks)
        .sum();
    Duration::from_secs_f64(ticks as f64 / ticks_per_second())
}

/// Resident memory (VmRSS) of `pid` and its descendants, in bytes.
pub fn resident_bytes(pid: u32) -> u64 {
    process_tree(pid)
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .sum()
}

/// Measures how busy a process tree was over a window, as a percentage of one
/// core (so 200% is both cores of this machine).
pub struct CpuShare {
    scope: Scope,
    cpu_at_start: Duration,
    started: Instant,
}

impl CpuShare {
    /// Starts the window now.
    pub fn start(scope: Scope) -> Self {
        Self {
            scope,
            cpu_at_start: cpu_time(scope),
            started: Instant::now(),
        }
    }

    /// The CPU time used since `start`, divided by the wall time since then, in %.
    pub fn percent(&self) -> f64 {
        let used = cpu_time(self.scope).saturating_sub(self.cpu_at_start);
        100.0 * used.as_secs_f64() / self.started.elapsed().as_secs_f64()
    }
}

/// Raises this process's open-file limit to its hard limit (10,000 sessions need
/// 10,000 sockets); returns the new soft limit.
pub fn raise_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for the kernel to fill in and read.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        }
    }
    limit.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_and_burns_cpu() {
        let me = std::process::id();
        assert!(resident_bytes(me) > 0);
        let share = CpuShare::start(Scope::Process(me));
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(200) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let percent = share.percent();
        assert!(percent > 30.0 && percent < 250.0, "{percent}");
    }

    #[test]
    fn the_tree_of_a_process_includes_its_children() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(process_tree(std::process::id()).contains(&child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
