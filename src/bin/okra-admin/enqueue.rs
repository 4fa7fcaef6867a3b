//! `okra-admin enqueue`: one job from flags, or JSON Lines from a file or stdin.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::Args;
use okra_queue::PartialEnqueue;
use okra_queue::okra::OkraJob;
use okra_queue::okra::providers::ProviderSettings;
use okra_queue::{EnqueueOptions, Queue, QueueError, RawJob};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::flags::KindFields;
use crate::output::{Out, parse_rfc3339};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  okra-admin enqueue bvn_verify --bvn 22234567890\n  okra-admin enqueue nuban_verify --nuban 0123456789 --bank 5d6fe57a4099cc4b210bbeb0 --delay 30s\n  okra-admin enqueue rc_verify --rc-number RC123456 --company-name \"Acme Ltd\" --idempotency-key acme-rc\n  okra-admin enqueue bvn_verify --bvn 22234567890 --match-last-name Belson --match-dob 27/09/1979\n  okra-admin enqueue --file jobs.jsonl\n\nA file has one job per line in the wire format, optionally with options (and \"fresh\": true):\n  {\"kind\":\"bvn_verify\",\"bvn\":\"22234567890\",\"options\":{\"delay\":\"30s\",\"max_attempts\":5,\"idempotency_key\":\"k\"}}\nInvalid lines are reported with their line numbers and skipped; the exit status is 1 if any was."
)]
pub struct EnqueueArgs {
    #[arg(required_unless_present = "file", conflicts_with = "file", help = kind_help())]
    kind: Option<String>,
    /// The job's fields, from the kind table.
    #[command(flatten)]
    fields: KindFields,
    /// Run no earlier than this from now (30s, 5m).
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "at")]
    delay: Option<Duration>,
    /// Run no earlier than this RFC 3339 time.
    #[arg(long, value_parser = parse_rfc3339)]
    at: Option<SystemTime>,
    /// Attempt budget, 1 to 1000 (default: the fleet's retry.max_attempts).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_attempts: Option<u32>,
    /// Enqueue once per key (a repeat returns the first job's id).
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Ask for a fresh answer: make the paid call even when a profile verified within
    /// okra.reuse_window could be reused.
    #[arg(long)]
    fresh: bool,
    /// JSON Lines file, or - for stdin.
    #[arg(long, value_name = "PATH|-")]
    file: Option<PathBuf>,
    /// What the customer typed, to ask whether the record matches it.
    #[command(flatten)]
    matching: Box<MatchFlags>,
}

/// `--match-*`: what the customer typed (boxed: most runs give none).
#[derive(Debug, Args)]
#[command(next_help_heading = "Match what the customer typed")]
struct MatchFlags {
    /// Ask whether the record matches the first name the customer typed (the result carries
    /// `match`; flags show in `ps` and shell history: prefer --file for real customers).
    #[arg(long, value_name = "NAME")]
    match_first_name: Option<String>,
    /// The last name (surname) the customer typed.
    #[arg(long, value_name = "NAME")]
    match_last_name: Option<String>,
    /// The middle name the customer typed.
    #[arg(long, value_name = "NAME")]
    match_middle_name: Option<String>,
    /// The date of birth the customer typed (1979-09-27, 27-Sep-1979, 27/09/1979).
    #[arg(long, value_name = "DATE")]
    match_dob: Option<String>,
    /// The phone number the customer typed (0803..., +234803..., 234803...).
    #[arg(long, value_name = "PHONE")]
    match_phone: Option<String>,
    /// The gender the customer typed (M, F, Male, Female).
    #[arg(long, value_name = "M|F")]
    match_gender: Option<String>,
}

fn kind_help() -> String {
    let names: Vec<&str> = okra_queue::okra::kinds::names().collect();
    format!("Job kind: {}.", names.join(", "))
}

pub async fn run(
    queue: &Queue,
    providers: &ProviderSettings,
    args: EnqueueArgs,
    out: Out,
) -> anyhow::Result<ExitCode> {
    if let Some(path) = args.file.clone() {
        return from_file(queue, providers, &path, out).await;
    }
    let mut job = Map::new();
    job.insert(
        "kind".into(),
        Value::String(args.kind.clone().unwrap_or_default()),
    );
    for (field, value) in &args.fields.0 {
        job.insert((*field).into(), Value::String(value.clone()));
    }
    let typed: Map<String, Value> = [
        ("first_name", &args.matching.match_first_name),
        ("last_name", &args.matching.match_last_name),
        ("middle_name", &args.matching.match_middle_name),
        ("date_of_birth", &args.matching.match_dob),
        ("phone", &args.matching.match_phone),
        ("gender", &args.matching.match_gender),
    ]
    .into_iter()
    .filter_map(|(field, v)| Some((field.to_string(), Value::String(v.clone()?))))
    .collect();
    if !typed.is_empty() {
        job.insert("match".into(), Value::Object(typed));
    }
    let job = OkraJob::from_json(Value::Object(job))
        .map_err(|e| crate::Usage(format!("invalid job: {e}")))?;
    providers.sold(job.spec().name).map_err(crate::Usage)?;
    okra_queue::job::check_delay(args.delay, args.at).map_err(crate::Usage)?;
    let options = EnqueueOptions {
        delay: args.delay,
        run_at: args.at,
        max_attempts: args.max_attempts,
        idempotency_key: args.idempotency_key,
        fresh: args.fresh,
        trace: None,
        metadata: None,
    };
    let e = queue.enqueue(&job, options).await?;
    if out.json {
        out.json(&e);
    } else if e.duplicate {
        println!(
            "{} (duplicate: the idempotency key was already used; nothing enqueued)",
            e.id
        );
    } else {
        println!("{}", e.id);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Serialize)]
struct LineError {
    line: usize,
    error: String,
}

#[derive(Debug, Serialize)]
struct Summary {
    accepted: usize,
    duplicates: usize,
    invalid: usize,
    errors: Vec<LineError>,
    ids: Vec<String>,
    /// Present when Redis failed part-way: which lines were written and which were not.
    #[serde(skip_serializing_if = "Option::is_none")]
    incomplete: Option<Incomplete>,
}

/// What a failed `enqueue --file` wrote, by file line (ranges are inclusive).
#[derive(Debug, Serialize)]
struct Incomplete {
    error: String,
    written_lines: Vec<(usize, usize)>,
    /// Why the written jobs are not confirmed at `redis.durability`, when they are not.
    #[serde(skip_serializing_if = "Option::is_none")]
    unconfirmed: Option<String>,
    unwritten_lines: Vec<(usize, usize)>,
    unknown: Vec<Unknown>,
}

#[derive(Debug, Serialize)]
struct Unknown {
    line: usize,
    id: String,
}

impl Incomplete {
    /// `lines[i]` is the file line of job position `i`.
    fn new(p: &PartialEnqueue, lines: &[usize]) -> Self {
        let written: Vec<usize> = p.written.iter().map(|(i, _)| *i).collect();
        let unwritten: Vec<usize> = p.unwritten.iter().flat_map(|r| r.clone()).collect();
        Self {
            error: p.error.clone(),
            written_lines: line_ranges(&written, lines),
            unconfirmed: p.unconfirmed.clone(),
            unwritten_lines: line_ranges(&unwritten, lines),
            unknown: p
                .unknown
                .iter()
                .map(|(i, id)| Unknown {
                    line: lines[*i],
                    id: id.clone(),
                })
                .collect(),
        }
    }
}

/// Runs of consecutive job positions, as (first line, last line).
fn line_ranges(positions: &[usize], lines: &[usize]) -> Vec<(usize, usize)> {
    let mut sorted = positions.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<(usize, usize, usize)> = Vec::new();
    for p in sorted {
        match out.last_mut() {
            Some((_, end, last)) if *last + 1 == p => {
                *end = lines[p];
                *last = p;
            }
            _ => out.push((lines[p], lines[p], p)),
        }
    }
    out.into_iter().map(|(a, b, _)| (a, b)).collect()
}

fn show_ranges(ranges: &[(usize, usize)]) -> String {
    if ranges.is_empty() {
        return "none".into();
    }
    ranges
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn from_file(
    queue: &Queue,
    providers: &ProviderSettings,
    path: &PathBuf,
    out: Out,
) -> anyhow::Result<ExitCode> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        ))
    };
    let mut jobs = Vec::new();
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    // Lines are split on bytes: one line that is not UTF-8 is reported and skipped, never
    // the end of the whole file.
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line.with_context(|| format!("cannot read line {}", i + 1))?;
        let line = match String::from_utf8(line) {
            Ok(l) => l,
            Err(_) => {
                let error = "not UTF-8 text".to_string();
                if !out.json {
                    eprintln!("line {}: {error}", i + 1);
                }
                errors.push(LineError { line: i + 1, error });
                continue;
            }
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match parse_line(trimmed).and_then(|j| providers.sold(&j.kind).map(|()| j)) {
            Ok(job) => {
                jobs.push(job);
                lines.push(i + 1);
            }
            Err(error) => {
                if !out.json {
                    eprintln!("line {}: {}", i + 1, out.text(&error));
                }
                errors.push(LineError { line: i + 1, error });
            }
        }
    }
    let bar = out.progress(jobs.len() as u64, "enqueueing");
    let (results, incomplete) = match queue.enqueue_raw_bulk(jobs, |n| bar.inc(n as u64)).await {
        Ok(r) => (r, None),
        Err(QueueError::PartialEnqueue(p)) => (
            p.written.iter().map(|(_, e)| e.clone()).collect(),
            Some(Incomplete::new(&p, &lines)),
        ),
        Err(e) => return Err(e.into()),
    };
    bar.finish_and_clear();
    let duplicates = results.iter().filter(|e| e.duplicate).count();
    let summary = Summary {
        accepted: results.len() - duplicates,
        duplicates,
        invalid: errors.len(),
        ids: results.into_iter().map(|e| e.id).collect(),
        errors,
        incomplete,
    };
    if out.json {
        out.json(&summary);
    } else {
        println!(
            "accepted {}, duplicates {}, invalid {}",
            summary.accepted, summary.duplicates, summary.invalid
        );
        if let Some(inc) = &summary.incomplete {
            eprintln!("enqueue stopped part-way: {}", inc.error);
            eprintln!("written:     lines {}", show_ranges(&inc.written_lines));
            if let Some(why) = &inc.unconfirmed {
                eprintln!(
                    "             not confirmed at redis.durability ({why}): they may be lost if the primary fails now"
                );
            }
            eprintln!(
                "not written: lines {} (safe to enqueue again)",
                show_ranges(&inc.unwritten_lines)
            );
            for u in &inc.unknown {
                eprintln!(
                    "unknown:     line {} (job {}: check with `okra-admin job show {}` once Redis answers)",
                    u.line, u.id, u.id
                );
            }
        }
    }
    Ok(if summary.invalid > 0 || summary.incomplete.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One line of a file as a job. Every error names the rule it breaks (and the file line, which
/// the caller adds), never a value: a line may hold a BVN anywhere.
fn parse_line(line: &str) -> Result<RawJob, String> {
    let mut value: Value =
        serde_json::from_str(line).map_err(|e| format!("not JSON (at column {})", e.column()))?;
    let Some(obj) = value.as_object_mut() else {
        return Err("not a JSON object".into());
    };
    let mut options = match obj.remove("options") {
        None | Some(Value::Null) => EnqueueOptions::default(),
        Some(Value::Object(o)) => parse_options(&o)?,
        Some(_) => return Err("`options` must be an object".into()),
    };
    // `"fresh": true` beside the job's fields: a job option, not part of the Okra request.
    match obj.remove("fresh") {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => options.fresh = true,
        Some(_) => return Err("`fresh` must be true or false".into()),
    }
    RawJob::of(&OkraJob::from_json(value)?, options)
}

fn parse_options(o: &Map<String, Value>) -> Result<EnqueueOptions, String> {
    let mut opts = EnqueueOptions::default();
    for (k, v) in o {
        match (k.as_str(), v) {
            ("delay", Value::String(s)) => {
                opts.delay = Some(humantime::parse_duration(s).map_err(|_| {
                    "options.delay is not a duration (30s, 10m, 2h 30m)".to_string()
                })?)
            }
            ("at", Value::String(s)) => {
                opts.run_at = Some(parse_rfc3339(s).map_err(|_| {
                    "options.at is not an RFC 3339 time (2026-11-25T08:00:00Z)".to_string()
                })?)
            }
            ("max_attempts", Value::Number(n)) => {
                opts.max_attempts = Some(
                    n.as_u64()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or("options.max_attempts must be between 1 and 1000")?
                        as u32,
                )
            }
            ("idempotency_key", Value::String(s)) if !s.is_empty() => {
                opts.idempotency_key = Some(s.clone())
            }
            ("fresh", Value::Bool(b)) => opts.fresh = *b,
            ("delay" | "at" | "max_attempts" | "idempotency_key" | "fresh", _) => {
                return Err(format!("options.{k} has the wrong type"));
            }
            _ => {
                return Err(
                    "unknown option (expected delay, at, max_attempts, idempotency_key, fresh)"
                        .into(),
                );
            }
        }
    }
    if opts.delay.is_some() && opts.run_at.is_some() {
        return Err("options.delay and options.at exclude each other".into());
    }
    opts.check().map_err(|e| format!("options: {e}"))?;
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_with_options() {
        let j = parse_line(r#"{"kind":"bvn_verify","bvn":"22234567890","options":{"delay":"30s","max_attempts":5,"idempotency_key":"k"}}"#).unwrap();
        assert_eq!(j.kind, "bvn_verify");
        assert_eq!(j.options.delay, Some(Duration::from_secs(30)));
        assert_eq!(j.options.max_attempts, Some(5));
        assert!(
            parse_line(r#"{"kind":"bvn_verify","bvn":"1"}"#)
                .unwrap_err()
                .contains("11 digits")
        );
        assert!(
            parse_line(r#"{"kind":"bvn_verify","bvn":"22234567890","options":{"priority":1}}"#)
                .unwrap_err()
                .contains("unknown option")
        );
        assert!(parse_line("nope").unwrap_err().contains("not JSON"));
        let j = parse_line(r#"{"kind":"bvn_verify","bvn":"22234567890","fresh":true}"#).unwrap();
        assert!(j.options.fresh);
        assert!(!j.payload.contains("fresh"), "not part of the Okra request");
        let j = parse_line(r#"{"kind":"bvn_verify","bvn":"22234567890","match":{"last_name":"Belson","date_of_birth":"27/09/1979"}}"#).unwrap();
        assert!(j.payload.contains(r#""match":{"#), "{}", j.payload);
        let e = parse_line(r#"{"kind":"bvn_verify","bvn":"22234567890","match":{"phone":"0803"}}"#)
            .unwrap_err();
        assert!(
            e.contains("match.phone is not a Nigerian phone number"),
            "{e}"
        );
    }
}
