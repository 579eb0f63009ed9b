"""Print, as JSON, every cloud resource the real Pulumi program registers under the infra mocks.

Run by the main virtualenv (it has pulumi-gcp; the policy pack's does not) as
`python -m tests.infra.dump_stack [KEY=VALUE ...]` from the repository root, KEY an ai-service:* key
without its namespace; policy/tests/test_stack.py judges the output with the policy pack. Inputs are
the wire (camelCase) properties the engine would hand to a policy pack.
"""

import json
import sys

from tests.infra.harness import run_program

if __name__ == "__main__":
    config = dict(argument.split("=", 1) for argument in sys.argv[1:])
    resources = [
        {"type": item.type, "name": item.name, "urn": item.urn, "inputs": item.inputs}
        for item in run_program(config).registrations
        if item.custom
    ]
    # Assets and archives are not JSON; no policy reads them, so their repr is enough.
    json.dump(resources, sys.stdout, default=repr)
