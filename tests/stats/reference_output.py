"""What the reference scripts share: writing their JSON where the Swift tests read it."""
import json
import sys


def write(out):
    """Writes `out` as JSON to the path given as the first argument, else to stdout."""
    text = json.dumps(out, indent=1)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text + "\n")
    else:
        print(text)
