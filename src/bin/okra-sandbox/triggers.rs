//! Deterministic outcomes: the last four characters of a request's identifier (BVN, NIN, NUBAN,
//! customer id, RC or TIN number) pick what the sandbox answers. Anything else succeeds.

/// What to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A profile.
    Success,
    /// 503 Okra timeout on the first call for this identifier; the profile then becomes
    /// available through `/identity/getByBvn`, and later verifies succeed.
    TimeoutOnce,
    /// 429 on the first call for this identifier, then success.
    RateLimitOnce,
    /// 500 on the first call for this identifier, then success.
    ServerErrorOnce,
    /// 500 every time.
    ServerError,
    /// 502 with an HTML body every time.
    BadGateway,
    /// 504 every time.
    GatewayTimeout,
    /// 400 every time.
    BadRequest,
    /// 401 every time.
    Unauthorized,
    /// 404 every time.
    NotFound,
    /// 422 every time.
    Unprocessable,
    /// 200 with `status: "error"` and this `type`.
    ErrorType(&'static str),
    /// 200 with a body that is not JSON.
    Malformed,
    /// Answers after `--slow` (longer than the client timeout).
    Slow,
    /// 204 No Content (nuban-verify: valid account with no BVN).
    NoContent,
    /// 301 to another place (`/__sandbox/elsewhere`, which answers a stranger's profile).
    Redirect,
    /// 200 with the profile of somebody else (another identifier).
    Mismatched,
    /// 200 with a body of `--big-body` bytes, streamed.
    Oversized,
    /// 200 with a success envelope whose `identity` has the wrong types.
    WrongTypes,
    /// Like `TimeoutOnce`, but the first free lookup for the identifier hangs for `--slow`
    /// (past the client timeout) before answering; later lookups answer at once.
    TimeoutThenSlowLookup,
    /// Like `TimeoutOnce`, but every free lookup for the identifier answers 500.
    TimeoutThenLookupFails,
    /// A profile in the revamped API's envelope (`success: true`), with a `receipt`.
    Receipt,
    /// 503 on the first call for this identifier, and Okra did nothing with it: the lookups
    /// have no profile, and the next verify succeeds.
    UnavailableOnce,
    /// The account's wallet is empty (Okra: type `PLAN`; Prembly `04`; Dojah 402).
    WalletEmpty,
    /// Slower than the client timeout (answers after `--slow`); Okra finishes the verify and
    /// charges for it only `--finish-after` after the request, so a lookup before then finds
    /// nothing.
    SlowFinish,
}

/// Every trigger with its suffix and what it shows, for `--help`, the README and the demo.
pub const TABLE: &[(&str, Trigger, &str)] = &[
    (
        "0503",
        Trigger::TimeoutOnce,
        "503 timeout once; then the profile is in getByBvn",
    ),
    ("0429", Trigger::RateLimitOnce, "429 once, then success"),
    ("0501", Trigger::ServerErrorOnce, "500 once, then success"),
    ("0500", Trigger::ServerError, "500 every time"),
    (
        "0502",
        Trigger::BadGateway,
        "502 with an HTML body every time",
    ),
    ("0504", Trigger::GatewayTimeout, "504 every time"),
    ("0400", Trigger::BadRequest, "400 every time"),
    ("0401", Trigger::Unauthorized, "401 every time"),
    ("0404", Trigger::NotFound, "404 every time"),
    ("0422", Trigger::Unprocessable, "422 every time"),
    (
        "0601",
        Trigger::ErrorType("FLAGGED_USER"),
        "200 with status error, type FLAGGED_USER",
    ),
    (
        "0602",
        Trigger::ErrorType("SUSPENDED"),
        "200 with status error, type SUSPENDED",
    ),
    (
        "0603",
        Trigger::ErrorType("NO_RECORD_ID"),
        "200 with status error, type NO_RECORD_ID",
    ),
    (
        "0700",
        Trigger::Malformed,
        "200 with a body that is not JSON",
    ),
    (
        "0800",
        Trigger::Slow,
        "answers after --slow (longer than the client timeout); the verify still happens, so getByBvn has the profile",
    ),
    (
        "0204",
        Trigger::NoContent,
        "204 No Content (nuban-verify: no BVN attached)",
    ),
    (
        "0301",
        Trigger::Redirect,
        "301 to /__sandbox/elsewhere (which answers a stranger's profile)",
    ),
    (
        "0302",
        Trigger::Mismatched,
        "200 with the profile of somebody else",
    ),
    (
        "0413",
        Trigger::Oversized,
        "200 with a --big-body byte body (default 20 MB)",
    ),
    (
        "0701",
        Trigger::WrongTypes,
        "200 with identity [1, \"two\", null]",
    ),
    (
        "0803",
        Trigger::TimeoutThenSlowLookup,
        "503 timeout once (the profile is then in the lookups), but the first free lookup hangs for --slow",
    ),
    (
        "0804",
        Trigger::TimeoutThenLookupFails,
        "503 timeout once, and every free lookup answers 500",
    ),
    (
        "0505",
        Trigger::UnavailableOnce,
        "503 once, with nothing done at Okra (the lookups find nothing), then success",
    ),
    (
        "0805",
        Trigger::SlowFinish,
        "answers after --slow; Okra finishes (and charges) only --finish-after the request, when the lookups first have the profile",
    ),
    (
        "0402",
        Trigger::WalletEmpty,
        "the account's wallet is empty (Okra: 200 with type PLAN; Prembly 04; Dojah 402)",
    ),
    (
        "0900",
        Trigger::Receipt,
        "a profile in the revamped envelope, with a receipt (0.1 credits)",
    ),
];

/// The trigger for an identifier.
pub fn trigger_for(identifier: &str) -> Trigger {
    let suffix: String = identifier
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    TABLE
        .iter()
        .find(|(s, _, _)| *s == suffix)
        .map_or(Trigger::Success, |(_, t, _)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_pick_triggers() {
        assert_eq!(trigger_for("22200000503"), Trigger::TimeoutOnce);
        assert_eq!(
            trigger_for("22200000601"),
            Trigger::ErrorType("FLAGGED_USER")
        );
        assert_eq!(trigger_for("22234567890"), Trigger::Success);
        assert_eq!(trigger_for("RC0404"), Trigger::NotFound);
        assert_eq!(trigger_for("1"), Trigger::Success);
    }
}
