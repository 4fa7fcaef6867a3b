//! What an attempt leaves: the job's answer as the JSON text it returns (serialised once, for
//! the job's result and the reuse store), and what it leaves for the person's pay lock.

use okra_queue::JobError;
use okra_queue::okra::OkraResult;
use okra_queue::okra::pay_once::Settled;
use serde_json::value::RawValue;

/// A job's [`OkraResult`] as the JSON text it returns: serialised once, for the job's result
/// and (with reuse on) the profile kept for reuse.
pub struct Answered {
    pub text: Box<RawValue>,
    /// `"source": "reuse"`.
    pub reused: bool,
}

/// What an attempt leaves for the person's pay lock (see [`Settled`]).
#[derive(Clone, Copy)]
pub enum Kept {
    /// The attempt's `Ok` result is a paid (or looked-up) answer: kept for reuse.
    Answer,
    /// No answer came: the next job for the person looks first.
    Unsure,
    /// Nothing was paid for.
    Nothing,
}

/// The pay lock's settle for what the attempt `kept`; `answer` is its result's text when the
/// answer may be kept for reuse.
pub fn settled(kept: Kept, answer: Option<&RawValue>) -> Settled<'_> {
    match (kept, answer) {
        (Kept::Answer, Some(text)) => Settled::Answer(text),
        // An answer that cannot be kept: nothing to look for, it came.
        (Kept::Answer, None) | (Kept::Nothing, _) => Settled::Nothing,
        (Kept::Unsure, _) => Settled::Unsure,
    }
}

/// The job's result as the text it returns.
pub fn answered(result: &OkraResult) -> serde_json::Result<Answered> {
    Ok(Answered {
        text: serde_json::value::to_raw_value(result)?,
        reused: result.source == "reuse",
    })
}

/// A result that does not serialize; not the serializer's message, which could quote a value.
pub fn unencodable(_: serde_json::Error) -> JobError {
    JobError::retryable("result_encoding", "the job's result does not serialize")
}
