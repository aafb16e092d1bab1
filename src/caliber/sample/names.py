"""The sites of a sample export: plausible, distinct domain names (and, for in-app and
CTV inventory, app names and bundles), the tail-aggregate row's name, and real domains
whose names merely contain aggregate words."""

from __future__ import annotations

# the name exports give the rows that add up the sites too small to list
TAIL_AGGREGATE = "[tail aggregate]"
# Real domains whose names merely contain aggregate words: an engine must keep them.
AGGREGATE_LOOKALIKES: tuple[str, ...] = ("totalsportek.com", "summaryjournal.com")

_PREFIXES: tuple[str, ...] = (
    "daily", "city", "metro", "urban", "global", "local", "smart", "happy", "modern",
    "green", "blue", "red", "golden", "silver", "bright", "quick", "simple", "true",
    "real", "prime", "super", "mega", "micro", "open", "free", "wild", "cool", "fresh",
    "pure", "bold", "savvy", "clever", "epic", "royal", "rapid", "sunny", "north",
    "south", "east", "west", "coastal", "mountain", "river", "lake", "ocean", "desert",
    "prairie", "valley", "harbor", "island", "tech", "gadget", "auto", "motor", "food",
    "recipe", "kitchen", "garden", "home", "family", "parent", "baby", "kid", "teen",
    "college", "career", "money", "finance", "market", "stock", "crypto", "travel",
    "trip", "hotel", "flight", "health", "fitness", "yoga", "diet", "beauty", "style",
    "fashion", "celeb", "movie", "film", "music", "game", "gamer", "sport", "football",
    "soccer", "hoop", "golf", "tennis", "outdoor", "fishing", "hunting", "pet", "dog",
    "cat", "science", "space", "history", "weather", "news", "politic", "word", "puzzle",
    "trivia", "quiz", "craft", "diy", "design", "photo",
)  # fmt: skip
_SUFFIXES: tuple[str, ...] = (
    "hub", "times", "post", "journal", "digest", "wire", "today", "zone", "insider",
    "guide", "central", "report", "review", "world", "life", "daily", "spot", "base",
    "nation", "land", "planet", "corner", "place", "point", "space", "lab", "labs",
    "works", "media", "press", "herald", "tribune", "gazette", "chronicle", "observer",
    "ledger", "bulletin", "courier", "dispatch", "mirror", "sentinel", "monitor",
    "weekly", "now", "live", "tv", "radio", "cast", "feed", "stream", "buzz", "chatter",
    "talk", "forum", "club", "crowd", "fans", "mania", "geek", "nerd", "pro", "expert",
    "tips", "hacks", "ideas", "mag", "magazine", "blog", "notes", "stories", "tales",
    "facts", "info", "answers", "finder", "tracker", "watch", "alert", "scoop", "beat",
    "pulse", "vibe", "trend", "trends", "edge", "network", "source", "stop", "shop",
    "deals", "savings", "review", "ranker", "list", "lists", "box", "den", "nest", "haven",
    "path", "road", "street", "avenue", "square", "circle", "loop", "link", "express",
    "direct", "hq", "online", "web", "site", "page", "hive",
)  # fmt: skip
_TLDS: tuple[str, ...] = (
    "com", "com", "com", "com", "com", "com", "com", "com", "com", "com", "com", "com",
    "net", "net", "org", "co.uk", "io", "tv", "news", "info", "co", "us", "ca", "com.au",
)  # fmt: skip


def site_names(n: int, ctv: bool, in_app: bool) -> list[str]:
    """``n`` distinct, plausible site names.

    Domains; with ``in_app``, one name in eight is a mobile app bundle
    (``com.example.android``), as in-app inventory shows in Trade Desk site reports.
    For CTV: app names or app bundles.

    Index ``i`` goes through a fixed bijection of the (prefix, suffix, style) grid so
    that neighbouring indices do not share a word; past the grid (or on the rare
    accidental collision) a number is appended.
    """
    n_pre, n_suf = len(_PREFIXES), len(_SUFFIXES)
    styles = (
        "{p}{s}",
        "{p}-{s}",
        "the{p}{s}",
        "my{p}{s}",
        "{p}{s}online",
        "{p}-{s}-news",
        "{p}{s}network",
        "the-{p}-{s}",
    )
    grid = n_pre * n_suf * len(styles)
    mult = 7919  # prime, coprime with the grid size
    specials = () if ctv else AGGREGATE_LOOKALIKES[:n]
    seen: set[str] = set(specials)
    names: list[str] = list(specials)
    for i in range(len(specials), n):
        j = (i * mult + 1) % grid
        pre = _PREFIXES[j % n_pre]
        suf = _SUFFIXES[(j // n_pre) % n_suf]
        style = styles[j // (n_pre * n_suf)]
        num = "" if i < grid else str(i // grid + 1)
        while True:
            if ctv:
                name = (
                    f"com.{pre}{suf}{num}.tv"
                    if i % 3 == 0
                    else f"{pre.title()} {suf.title()}{num} TV"
                )
            elif in_app and i % 8 == 5:
                name = f"com.{pre}{suf}{num}.android" if i % 16 == 5 else f"com.{pre}.{suf}{num}app"
            else:
                tld = _TLDS[(i * 31 + 7) % len(_TLDS)]
                name = style.format(p=pre, s=suf) + f"{num}.{tld}"
            if name not in seen:
                break
            num = str(int(num or "1") + 1)
        seen.add(name)
        names.append(name)
    return names
