"""Care automation: journeys (trigger + steps), enrolment sweeps, the exactly-once step runner, their numbers."""

from app.components.care.builtin import BUILTIN
from app.components.care.definitions import (
    ACTIONS,
    CALENDAR_AUDIENCES,
    EVENT_TRIGGERS,
    MAX_STEPS,
    PURPOSES,
    SKIPS,
    SWEPT_TRIGGERS,
    TASK_KINDS,
    TASK_ROLES,
    TRIGGERS,
    Definition,
    Known,
    Step,
    action_label,
    audience_label,
    parse_definition,
    purpose_label,
    skip_label,
    step_count,
    to_form,
    trigger_label,
)
from app.components.care.enrolment import SWEEP_CONCURRENCY, audience, enrol_from_event, sweep
from app.components.care.handler import CARE_HANDLER, on_event
from app.components.care.journeys import (
    add_journey,
    definition_of,
    journey,
    journeys,
    save_journey,
    seed_builtin_journeys,
    switch_journey,
    version_ids,
    versions,
)
from app.components.care.stats import Difference, EnrolmentTotals, JourneyStats, enrolment_totals, journey_stats
from app.components.care.steps import STEP_CONCURRENCY, RunResult, run_due
from app.components.care.views import params_in_words, steps_in_words
from app.components.care.vocabulary import known
from app.components.care_tasks import kind_label as task_kind_label

# Database connections the care jobs may hold at once: the sweep's journeys and the step runner's steps together.
CONNECTIONS = SWEEP_CONCURRENCY + STEP_CONCURRENCY

__all__ = [
    "ACTIONS",
    "BUILTIN",
    "CALENDAR_AUDIENCES",
    "CARE_HANDLER",
    "CONNECTIONS",
    "EVENT_TRIGGERS",
    "MAX_STEPS",
    "PURPOSES",
    "SKIPS",
    "SWEPT_TRIGGERS",
    "TASK_KINDS",
    "TASK_ROLES",
    "TRIGGERS",
    "Definition",
    "Difference",
    "EnrolmentTotals",
    "JourneyStats",
    "Known",
    "RunResult",
    "Step",
    "action_label",
    "add_journey",
    "audience",
    "audience_label",
    "definition_of",
    "enrol_from_event",
    "enrolment_totals",
    "journey",
    "journey_stats",
    "journeys",
    "known",
    "on_event",
    "params_in_words",
    "parse_definition",
    "purpose_label",
    "run_due",
    "save_journey",
    "seed_builtin_journeys",
    "skip_label",
    "step_count",
    "steps_in_words",
    "sweep",
    "switch_journey",
    "task_kind_label",
    "to_form",
    "trigger_label",
    "version_ids",
    "versions",
]
