"""Run directories: the on-disk contract between the engine and every reader (no torch, no textual)."""

from .format import (  # noqa: F401
    COMPLETED,
    DIVERGED,
    END,
    ENGINE_LOG,
    EVENT,
    FAILED,
    INTERRUPTED,
    MANIFEST_FILE,
    METRICS_FILE,
    REPARAM,
    RUNNING,
    SCENARIO_FILE,
    SHARPNESS,
    STEP,
    MetricsWriter,
    create_run_dir,
    default_run_dir,
    write_json_atomic,
)
from .reader import (  # noqa: F401
    MetricsFollower,
    RunInfo,
    effective_status,
    is_run_dir,
    list_runs,
    read_manifest,
    read_records,
    read_scenario_text,
    run_info,
)
from .session import RunSession  # noqa: F401  (the one owner of a run's lifecycle)
