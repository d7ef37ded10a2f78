"""Care automation: journeys (trigger + steps), enrolment sweeps, the exactly-once step runner, their numbers."""

from app.components.care.definitions import (
    ACTIONS,
    EVENT_TRIGGERS,
    MAX_STEPS,
    PURPOSES,
    SWEPT_TRIGGERS,
    TRIGGERS,
    Definition,
    Known,
    Step,
    parse_definition,
    to_form,
)
from app.components.care.enrolment import audience, enrol_from_event, sweep
from app.components.care.journeys import (
    add_journey,
    definition_of,
    journey,
    save_journey,
    seed_builtin_journeys,
    switch_journey,
)

__all__ = [
    "ACTIONS",
    "EVENT_TRIGGERS",
    "MAX_STEPS",
    "PURPOSES",
    "SWEPT_TRIGGERS",
    "TRIGGERS",
    "Definition",
    "Known",
    "Step",
    "add_journey",
    "audience",
    "definition_of",
    "enrol_from_event",
    "journey",
    "parse_definition",
    "save_journey",
    "seed_builtin_journeys",
    "sweep",
    "switch_journey",
    "to_form",
]
