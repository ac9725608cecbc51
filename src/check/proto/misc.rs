//! MISC_CHECK: what a script's end means (check_misc.c `misc_check_child_thread`).

use super::pool::WeightChange;

/// How the script ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptEnd {
    Exited(i32),
    /// Killed by a signal; `timed_out` when it was our timeout's SIGTERM/SIGKILL.
    Signaled {
        signal: i32,
        timed_out: bool,
    },
}

/// The verdict on one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MiscVerdict {
    pub up: bool,
    /// With `misc_dynamic`: the weight the exit status asks for (exit 0 restores the
    /// configured weight, exit 2-255 sets weight `status - 2`).
    pub weight: Option<WeightChange>,
}

/// Exit 0 is up; with `misc_dynamic`, 2-255 is up with weight `status - 2`; anything else,
/// or a signal, is down.
pub fn evaluate(end: ScriptEnd, dynamic: bool) -> MiscVerdict {
    match end {
        ScriptEnd::Exited(0) => MiscVerdict {
            up: true,
            weight: dynamic.then_some(WeightChange::Relative(0)),
        },
        ScriptEnd::Exited(s) if dynamic && (2..=255).contains(&s) => MiscVerdict {
            up: true,
            weight: Some(WeightChange::Absolute(s as i64 - 2)),
        },
        _ => MiscVerdict {
            up: false,
            weight: None,
        },
    }
}
