"""Coverage-guided fuzzing of the function's parsers with atheris (libFuzzer), on demand; not a test
dependency, so install it first:

    .venv/bin/python -m pip install atheris
    .venv/bin/python -m tests.function.fuzz_atheris parse -max_total_time=600
    .venv/bin/python -m tests.function.fuzz_atheris request -max_total_time=600

libFuzzer mutates bytes towards new coverage; hypothesis's fuzz_one_input turns them into the same
inputs and checks the same properties as the tests: `parse` those of test_fuzz.py on parse_event,
`request` those of tests/reliability/test_hostile_input.py on any body with any headers, through the
real functions-framework app and the wire fakes. A failure raises, and libFuzzer saves the crashing
input (crash-*) and stops.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
from collections.abc import Callable

from hypothesis import given, settings

from bench.fakes.vision import FakeImage
from tests.function import test_fuzz
from tests.function.conftest import uri
from tests.reliability import test_hostile_input as hostile
from tests.reliability.conftest import running_stack

atheris = importlib.import_module("atheris")  # installed by hand: see above


def fuzz(target: Callable[[bytes], object]) -> None:
    atheris.instrument_all()  # coverage of everything loaded: the app, labeling, the framework
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


def main() -> None:
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    if which == "parse":
        test = test_fuzz.test_any_event_is_a_request_for_our_bucket_or_a_specific_refusal
        fuzz(test.hypothesis.fuzz_one_input)  # type: ignore[attr-defined]  # set by @given
    elif which == "request":
        with running_stack() as stack, contextlib.redirect_stderr(io.StringIO()):
            stack.vision.add_image(uri(hostile.GOOD_OBJECT), FakeImage())

            @settings(database=None, deadline=None)
            @given(body=hostile.bodies, headers=hostile.request_headers)
            def request(body: bytes, headers: dict[str, str]) -> None:
                hostile.assert_handled(hostile.send(stack, headers, body))

            fuzz(request.hypothesis.fuzz_one_input)  # type: ignore[attr-defined]
    else:
        sys.exit(f"usage: {sys.argv[0]} parse|request [libFuzzer flags]")


if __name__ == "__main__":
    main()
