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
    journeys,
    save_journey,
    seed_builtin_journeys,
    switch_journey,
    version_ids,
    versions,
)
from app.components.care.views import params_in_words, steps_in_words

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
    "journeys",
    "params_in_words",
    "parse_definition",
    "save_journey",
    "seed_builtin_journeys",
    "steps_in_words",
    "sweep",
    "switch_journey",
    "to_form",
    "version_ids",
    "versions",
]
