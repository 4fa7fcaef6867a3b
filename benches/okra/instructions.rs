//! `BENCH_OKRA_INSTRUCTIONS=N`: what the reuse check costs the worker, as instructions per job
//! counted by valgrind's cachegrind, `N` rounds. CPU time on a shared 2-core machine moves by
//! more than the 10 % the check is allowed (one run's `reuse off` measured 43 µs of worker CPU
//! per job, the next 70); an instruction count moves by about 1 %, so it tells one change from
//! another in a single run.
//!
//! Each of `reuse off`, `reuse off, index key` and `reuse on` runs twice, with `J` and `2J`
//! jobs (`BENCH_OKRA_JOBS`, default 2,000 here: the worker runs about 50 times slower under
//! valgrind), and a job costs the difference over `J`: starting and stopping cancel out.
//!
//! SHA-256 is counted apart. Valgrind does not emulate the CPU's SHA extensions and hides them,
//! so the `sha2` crate runs its portable code, about 3,400 instructions per 64-byte block,
//! where the hardware's instructions take about a tenth of that: the keyed hashes reuse needs
//! (the person's, the identifiers an answer carries) weigh several times what they do on the
//! machine. The ratio "without SHA-256" is the one to read; the other is printed beside it.

use std::path::Path;
use std::process::Command;

use super::common::cpu::median;
use super::{Mode, Runs};

const DEFAULT_JOBS: usize = 2_000;

/// One mode's instructions per job: all, and SHA-256's.
#[derive(Clone, Copy)]
struct Count {
    all: f64,
    sha: f64,
}

impl Count {
    fn without_sha(self) -> f64 {
        self.all - self.sha
    }
}

pub(super) async fn rounds(ctx: &Runs<'_>, rounds: usize, modes: [&Mode; 3]) -> anyhow::Result<()> {
    let found = Command::new("valgrind").arg("--version").output();
    anyhow::ensure!(
        found.is_ok_and(|o| o.status.success()),
        "BENCH_OKRA_INSTRUCTIONS counts with valgrind, which is not installed (apt-get install -y valgrind)"
    );
    let jobs = std::env::var("BENCH_OKRA_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_JOBS);
    println!(
        "okra end to end, the reuse check: worker instructions per job (valgrind cachegrind; bvn_verify jobs for distinct people at concurrency {}, okra-sandbox, redis {}; runs of {jobs} and {} jobs, the difference over {jobs})\n",
        ctx.concurrency,
        ctx.url,
        2 * jobs
    );
    println!(
        "{:<20} {:>16} {:>16} {:>18}",
        "mode", "instructions", "of them SHA-256", "without SHA-256"
    );
    let [off, indexed, on] = modes;
    let mut ratios: [Vec<f64>; 4] = Default::default();
    for round in 0..rounds {
        let mut counts = Vec::new();
        for (k, mode) in modes.into_iter().enumerate() {
            let n = 100 + round * 3 + k;
            let c = count(ctx, n, mode, jobs).await?;
            println!(
                "{:<20} {:>16.0} {:>16.0} {:>18.0}",
                mode.name,
                c.all,
                c.sha,
                c.without_sha()
            );
            counts.push(c);
        }
        let [o, i, r] = [counts[0], counts[1], counts[2]];
        let mut line = format!("round {}:", round + 1);
        for (j, (base, b)) in [(off, o), (indexed, i)].into_iter().enumerate() {
            let (plain, all) = (r.without_sha() / b.without_sha(), r.all / b.all);
            ratios[2 * j].push(plain);
            ratios[2 * j + 1].push(all);
            line += &format!(
                " {} / {}: {plain:.3}× without SHA-256 ({:+.0} instructions), {all:.3}× with it;",
                on.name,
                base.name,
                r.without_sha() - b.without_sha()
            );
        }
        println!("{line}");
    }
    for (j, base) in [off, indexed].into_iter().enumerate() {
        let plain = median(&mut ratios[2 * j]);
        let all = median(&mut ratios[2 * j + 1]);
        println!(
            "{} / {} (median of {rounds} rounds): worker instructions {plain:.3}× without SHA-256 (target ≤ 1.10×), {all:.3}× with software SHA-256",
            on.name, base.name
        );
    }
    Ok(())
}

/// `mode`'s instructions per job: runs of `jobs` and `2 * jobs`, the worker under cachegrind.
async fn count(ctx: &Runs<'_>, n: usize, mode: &Mode, jobs: usize) -> anyhow::Result<Count> {
    let mut totals = Vec::new();
    for (k, size) in [jobs, 2 * jobs].into_iter().enumerate() {
        let out = ctx.dir.join(format!("cachegrind-{n}-{k}.out"));
        let under = vec![
            "valgrind".to_string(),
            "--tool=cachegrind".into(),
            "--cache-sim=no".into(),
            format!("--cachegrind-out-file={}", out.display()),
        ];
        ctx.run_under(1000 * n + k, mode, size, under).await?;
        totals.push(read(&out)?);
    }
    let per =
        |f: fn(&(u64, u64)) -> u64| (f(&totals[1]) as f64 - f(&totals[0]) as f64) / jobs as f64;
    Ok(Count {
        all: per(|t| t.0),
        sha: per(|t| t.1),
    })
}

/// A cachegrind output's instructions: all of them, and those of SHA-256's block function.
fn read(path: &Path) -> anyhow::Result<(u64, u64)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let (mut all, mut sha, mut in_sha) = (None, 0, false);
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("fn=") {
            in_sha = name.contains("sha256::compress256");
        } else if let Some(total) = line.strip_prefix("summary:") {
            all = total.trim().parse().ok();
        } else if in_sha {
            // `<line> <instructions>`
            sha += line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    let all = all.ok_or_else(|| anyhow::anyhow!("{}: no summary line", path.display()))?;
    Ok((all, sha))
}
