"""wordstat: count the words given as arguments and print a small, stable report.

Settings come from the JSON file named by $WORDSTAT_CONFIG (the package sets it to its
`config` slot); without it the defaults below apply, so `python3 app/main.py …` works too.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from wordstat import count_words, render  # noqa: E402

DEFAULTS = {"title": "wordstat", "top": 3, "lowercase": True}


def load_settings():
    settings = dict(DEFAULTS)
    path = os.environ.get("WORDSTAT_CONFIG")
    if path:
        with open(path, encoding="utf-8") as f:
            settings.update(json.load(f))
    return settings


def main(argv):
    settings = load_settings()
    words = [w for arg in argv for w in arg.split()]
    if not words:
        print("usage: wordstat WORD...", file=sys.stderr)
        return 2
    counts = count_words(words, lowercase=settings["lowercase"])
    print(render(settings["title"], counts, top=settings["top"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
