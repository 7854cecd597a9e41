"""Word counting and the report format of wordstat."""

from collections import Counter


def count_words(words, lowercase=True):
    """Counts of each word (punctuation at either end stripped)."""
    cleaned = (w.strip(".,;:!?\"'()") for w in words)
    if lowercase:
        cleaned = (w.lower() for w in cleaned)
    return Counter(w for w in cleaned if w)


def render(title, counts, top=3):
    """The report: totals, then the `top` most common words (ties in alphabetical order)."""
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    lines = [f"{title}: {total} words, {len(counts)} distinct"]
    lines += [f"  {word} {n}" for word, n in ranked]
    return "\n".join(lines)
