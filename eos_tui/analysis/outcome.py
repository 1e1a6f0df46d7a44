"""Outcome classes of a run: the one place that says what "lazy", "eos", "catapult", "diverged" and
"failed" mean, read from an arm's summary (analysis/summary.py), which the engine's detectors fill.

- failed:   the arm did not end by itself (status "failed", "interrupted", or never ended);
- diverged: the arm's status is "diverged" (non-finite, or its loss above measure.diverge_above), or
            it completed with its loss above where it started and at (within 10% of) its highest:
            still blowing up when the run ended, too few steps to reach the divergence limit (a
            run that ends inside a catapult's spike is past its peak, and is not counted here);
- catapult: it converged after at least one catapult (detectors.Catapult: the loss rose above
            twice its start, came back below it, and λ_max ended below the threshold and below
            its value before the spike);
- eos:      λ_max reached the stability threshold from below (detectors.EosOnset's eos_onset event),
            without a catapult;
- lazy:     none of these: it trained below the threshold.

A run of several arms takes the most severe of its arms' classes, in the order of OUTCOMES from the
end (failed, then diverged, catapult, eos, lazy). No torch.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

LAZY, EOS, CATAPULT, DIVERGED, FAILED = "lazy", "eos", "catapult", "diverged", "failed"
OUTCOMES = (LAZY, EOS, CATAPULT, DIVERGED, FAILED)  # from least to most severe
ENDS_AT_PEAK = 0.9  # a final loss this close to the run's highest (and above its start): still diverging


def arm_outcome(summary: Mapping[str, Any] | None) -> str:
    """The outcome class of one arm from its summary (summarize_arm's dict)."""
    if not summary:
        return FAILED
    status = summary.get("status")
    if status == "diverged":
        return DIVERGED
    if status != "completed":
        return FAILED
    final, initial, peak = summary.get("final_loss"), summary.get("initial_loss"), summary.get("max_loss")
    if final is None or (initial is not None and final > initial and (peak is None or final >= ENDS_AT_PEAK * peak)):
        return DIVERGED
    if (summary.get("catapults") or 0) > 0:
        return CATAPULT
    if summary.get("eos_onset_step") is not None:
        return EOS
    return LAZY


def run_outcome(outcomes: Iterable[str]) -> str:
    """The class of a run of several arms: the most severe of theirs (failed for no arms)."""
    found = [o for o in outcomes if o in OUTCOMES]
    return max(found, key=OUTCOMES.index) if found else FAILED


def majority(outcomes: Iterable[str]) -> str | None:
    """The most frequent class (ties go to the more severe one); None for none."""
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o] = counts.get(o, 0) + 1
    if not counts:
        return None
    return max(counts, key=lambda o: (counts[o], OUTCOMES.index(o) if o in OUTCOMES else -1))
