"""Schemathesis hooks for scripts/fuzz-api.

The fuzzer is given an admin's (or a read-only user's) API key and may call every
operation with any id it finds, including its own: revoking its own key, disabling,
demoting or deleting its own user, or deleting the read-only user's grant or its domain
would turn the rest of the run into 401s and 404s that test nothing. An unsafe request
(anything but GET) aimed at one of the ids in SWITCHYARD_FUZZ_PROTECTED_IDS (the fuzzing
users, their keys, the read-only user's grant and its domain) is therefore re-aimed at
the nil UUID, which names no resource (404). Nothing else is changed: every other
request, answer and check is Schemathesis's own.
"""

import os

import schemathesis

PROTECTED = frozenset(
    i.strip().lower() for i in os.environ.get("SWITCHYARD_FUZZ_PROTECTED_IDS", "").split(",") if i.strip()
)
NIL = "00000000-0000-0000-0000-000000000000"


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method.upper() == "GET" or not case.path_parameters:
        return
    for name, value in list(case.path_parameters.items()):
        if isinstance(value, str) and value.lower() in PROTECTED:
            case.path_parameters[name] = NIL
