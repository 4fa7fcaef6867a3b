//! The Lua scripts, loaded once per process. Each `.lua` file documents its KEYS and ARGV; the
//! shared helpers in `lua/lib.lua` are prepended to every one of them.

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($name:literal) => {
        Script::new(concat!(
            include_str!("lua/lib.lua"),
            "\n-- ",
            $name,
            ".lua\n",
            include_str!(concat!("lua/", $name, ".lua"))
        ))
    };
}

pub(crate) struct Scripts {
    pub enqueue: Script,
    pub enqueue_ready: Script,
    pub claim: Script,
    pub outcome: Script,
    pub extend: Script,
    pub expired: Script,
    pub requeue: Script,
    pub delete: Script,
    pub trim: Script,
    pub throttle: Script,
    pub permit: Script,
    pub heartbeat: Script,
    pub forward: Script,
    pub account_take: Script,
    pub cancel: Script,
    pub run_now: Script,
    pub elect: Script,
    pub oldest: Script,
    pub charge_begin: Script,
    pub charge_end: Script,
    pub charge_fix: Script,
    pub charge_stale: Script,
    pub budget_take: Script,
    pub budget_give_back: Script,
    pub lift: Script,
    pub not_found: Script,
    pub forget_answers: Script,
    pub erase: Script,
    pub erase_reuse: Script,
    pub reseal: Script,
}

pub(crate) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    enqueue: script!("enqueue"),
    enqueue_ready: script!("enqueue_ready"),
    claim: script!("claim"),
    outcome: script!("outcome"),
    extend: script!("extend"),
    expired: script!("expired"),
    requeue: script!("requeue"),
    delete: script!("delete"),
    trim: script!("trim"),
    throttle: script!("throttle"),
    permit: script!("permit"),
    heartbeat: script!("heartbeat"),
    forward: script!("forward"),
    account_take: script!("account_take"),
    cancel: script!("cancel"),
    run_now: script!("run_now"),
    elect: script!("elect"),
    oldest: script!("oldest"),
    charge_begin: script!("charge_begin"),
    charge_end: script!("charge_end"),
    charge_fix: script!("charge_fix"),
    charge_stale: script!("charge_stale"),
    budget_take: script!("budget_take"),
    budget_give_back: script!("budget_give_back"),
    lift: script!("lift"),
    not_found: script!("not_found"),
    forget_answers: script!("forget_answers"),
    erase: script!("erase"),
    erase_reuse: script!("erase_reuse"),
    reseal: script!("reseal"),
});
