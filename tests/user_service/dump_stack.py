"""Print, as JSON, every cloud resource the User-Service's Pulumi program registers under mocks.

Run by the main virtualenv (it has pulumi-gcp; the policy pack's does not) as
`python -m tests.user_service.dump_stack` from the repository root;
user_service/policy/tests/test_stack.py judges the output with the User-Service's pack.
"""

import json
import os
import sys
import tempfile

from tests.user_service.stack_harness import run_user_service

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as directory:
        os.environ["USER_SERVICE_ARCHIVE_DIRECTORY"] = directory
        resources = [
            {"type": item.type, "name": item.name, "urn": item.urn, "inputs": item.inputs}
            for item in run_user_service().registrations
            if item.custom
        ]
    json.dump(resources, sys.stdout, default=repr)
