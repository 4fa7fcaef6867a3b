#!/usr/bin/env python3
"""Splits the one-file README.md into a front door and a book (docs/), mechanically.

    python3 scripts/split-docs.py            # from the repository's root; rewrites README.md
    python3 scripts/split-docs.py --check    # says what it would do, writes nothing

README.md keeps its opening (what it is, `make run`, `make test`), the five-minute tour whole,
a map of the docs and how to get help. Every other `##`/`###` section moves to the page
PAGES names for its heading; a `###` heading the table does not name follows its `##`; a `##`
heading it does not name goes to UNMAPPED_PAGE and is reported, never dropped. Headings are
raised so that each page starts at `#` (anchors do not change: they come from the words).
Links are rewritten for where the text now lives: `(#foo)` becomes `(page.md#foo)` when the
heading moved, repository paths become relative to docs/, and docs/providers.md's
`../README.md#foo` links follow their headings. docs/providers.md and other hand-written pages
are never overwritten (a section mapped to one is appended to it, and reported).
Also writes docs/README.md (the index), docs/SUMMARY.md and docs/book.toml (`mdbook build docs`).
Python 3 standard library only; it refuses a README it has already split.
"""

import os
import re
import sys

# (page, title, what it holds, heading slugs; a slug ending in `*` matches as a prefix).
PAGES = [
    ("model.md", "The model",
     "job states and the delivery guarantee, events, retry schedule, the dead-letter record, Redis key layout",
     ["the-model", "job-states", "events", "retry-schedule", "the-dead-letter-record",
      "redis-key-layout"]),
    ("jobs.md", "Okra jobs",
     "wire format, validation, failure classification, upstream discipline, matching what the customer typed",
     ["okra-jobs", "wire-format", "failure-classification", "upstream-discipline",
      "matching-what-the-customer-typed"]),
    ("providers.md", "Providers",
     "Prembly and Dojah, their mapping tables, failover, money per provider, NDPA 2023",
     []),
    ("costs.md", "What it costs",
     "when the fleet pays, when it does not (pay once), how to see and cap it",
     ["what-it-costs", "pay-once*"]),
    ("data-protection.md", "Data protection",
     "what is sealed at rest, keys and rotation, erasure by person, retention, the audit trail",
     ["data-protection"]),
    ("configuration.md", "Configuration reference",
     "how settings load, and every key with its default",
     ["configuration"]),
    ("fleet.md", "Running a fleet",
     "scaling, Redis Cluster, TLS, shutdown, metrics and alerts, logs",
     ["running-a-fleet"]),
    ("durability.md", "Durability and failover",
     "what an acknowledged write survives, Sentinel, replicas and AOF",
     ["durability-and-failover"]),
    ("deploying.md", "Deploying the fleet",
     "health and readiness, config check, systemd, containers, Kubernetes, rollouts",
     ["deploying-the-fleet", "deploying*"]),
    ("sandbox.md", "The sandbox: okra-sandbox",
     "the local stand-in for the providers and its trigger inputs",
     ["okra-sandbox"]),
    ("okra-admin.md", "Operator's guide: okra-admin",
     "every command, with examples",
     ["operators-guide-okra-admin", "operators-guide*"]),
    ("dashboard.md", "The dashboard: okra-admin web",
     "the web dashboard and its security model",
     ["the-dashboard-okra-admin-web", "the-dashboard*"]),
    ("library.md", "Library API",
     "producers and custom workers",
     ["library-api-producers-and-custom-workers", "library-api*"]),
    ("gateway.md", "The HTTP gateway",
     "enqueue and read jobs over HTTP",
     ["the-http-gateway*", "http-gateway*"]),
    ("webhooks.md", "Webhooks",
     "telling an app when its job is done",
     ["webhooks*"]),
    ("tracing.md", "Tracing",
     "following a job across processes",
     ["tracing*"]),
    ("tests.md", "Tests",
     "what `make test` runs and proves",
     ["tests-and-benchmark", "tests*"]),
    ("benchmarks.md", "Benchmarks",
     "what `make bench` measures, and the results",
     ["benchmark-results", "benchmark*"]),
    ("source-layout.md", "Source layout",
     "the modules bottom to top, and where each concern lives",
     ["source-layout"]),
]
# Sections README.md keeps whole, and the one it replaces with the map of the docs.
KEEP = ["five-minutes-by-hand"]
REPLACED = ["contents"]
UNMAPPED_PAGE = ("more.md", "More", "sections the split did not know where to put")
MARK = "<!-- Split out of README.md by scripts/split-docs.py; edit this page, not the script. -->"
README_MARK = "<!-- The front door; the book is docs/ (made by scripts/split-docs.py). -->"

HELP = """## Getting help

- Every binary and every `okra-admin` command has `--help` (`okra-admin`'s with examples).
- `okra-worker --check-config` reads the settings as a worker would and says every problem,
  one line each, before any job is taken.
- Something looks wrong in a fleet: `okra-admin stats`, `okra-admin tail` and
  `okra-admin job show <id>` tell a job's whole story; [Running a fleet](docs/fleet.md) has
  the metrics and alerts, and [okra-admin](docs/okra-admin.md) every command.
- A bug or a question: open an issue in this repository with the command (leave out any BVN,
  NIN or account number you typed), its one-line error and what you expected; errors and logs
  never show a secret or a person's identifier, so they can be pasted as they are.
"""

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"\]\(([^()\s]+)(\s+\"[^\"]*\")?\)")


def slug(text):
    """GitHub's anchor for a heading: link text kept, lowercase, punctuation dropped, spaces
    to `-`."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).lower()
    return "".join(c for c in text if c.isalnum() or c in "-_ ").replace(" ", "-")


def headings(lines):
    """(index, level, text) of every heading outside code fences."""
    out, fenced = [], False
    for i, line in enumerate(lines):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := HEADING.match(line)):
            out.append((i, len(m.group(1)), m.group(2)))
    return out


def anchors(lines):
    """A page's anchors, GitHub's way (a repeated heading gets `-1`, `-2`, ...)."""
    seen, out = {}, set()
    for _, _, text in headings(lines):
        s = slug(text)
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def page_for(s):
    for page, _, _, slugs in PAGES:
        for p in slugs:
            if s == p or (p.endswith("*") and s.startswith(p[:-1])):
                return page
    return None


def shift(lines, by):
    """Raises every heading outside fences by `by` levels (never above `#`)."""
    out, fenced = [], False
    for line in lines:
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and by and (m := HEADING.match(line)):
            line = "#" * max(1, len(m.group(1)) - by) + " " + m.group(2)
        out.append(line)
    return out


def rewrite_links(lines, here, where, report):
    """Rewrites the links of text moved from the repository's root to `here` (a path relative
    to the root: README.md or docs/x.md). `where(anchor, here)` names the file that holds an
    anchor, relative to the root."""
    base = os.path.dirname(here)
    out, fenced = [], False

    def fix(m):
        target, title = m.group(1), m.group(2) or ""
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
            return m.group(0)
        path, _, frag = target.partition("#")
        if not path:  # an anchor on the page it was written on: README.md
            path = "README.md"
        else:
            path = os.path.normpath(path)
        if path == "README.md" and frag:
            owner = where(frag, here)
            if owner is None:
                report.append(f"link to #{frag} (in {here}): no heading has that anchor; left as it was")
                return m.group(0)
            path = owner
        if path == here and frag:
            new = "#" + frag
        else:
            new = os.path.relpath(path, base or ".") + ("#" + frag if frag else "")
        return "](" + new + title + ")"

    for line in lines:
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            line = LINK.sub(fix, line)
        out.append(line)
    return out


def main():
    check = "--check" in sys.argv[1:]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(root)
    with open("README.md", encoding="utf-8") as f:
        lines = f.read().split("\n")
    if README_MARK in lines:
        sys.exit("split-docs: README.md is already the front door (it carries the split's mark); "
                 "run this on the one-file README")

    # Cut the README into its preamble and a chunk per `##`/`###` heading.
    heads = [(i, lvl, t) for i, lvl, t in headings(lines) if lvl in (2, 3)]
    if not heads:
        sys.exit("split-docs: README.md has no `##` sections")
    preamble = lines[: heads[0][0]]
    chunks, parent_page, report = [], None, []
    for n, (i, lvl, text) in enumerate(heads):
        end = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
        s = slug(text)
        if s in KEEP:
            dest = "README.md"
        elif s in REPLACED:
            dest = None
        else:
            dest = page_for(s)
            if dest is None and lvl == 3 and parent_page is not None:
                if parent_page not in ("README.md", None):
                    report.append(f"note: '### {text}' is not in the table; it follows its `##` to docs/{parent_page}")
                dest = parent_page
            elif dest is None:
                dest = UNMAPPED_PAGE[0]
                report.append(f"UNMAPPED: '{'#' * lvl} {text}' → docs/{dest} (add it to PAGES)")
        if lvl == 2:
            parent_page = dest
        chunks.append((lvl, text, dest, lines[i:end]))

    # Where each chunk lands, with its headings raised so every page starts at `#`.
    pages = {}  # page -> [lines], in the order of PAGES
    page_top = {}
    readme_body = []
    for lvl, text, dest, body in chunks:
        if dest is None:
            continue
        if dest == "README.md":
            readme_body += body
            continue
        if dest not in page_top:
            page_top[dest] = lvl
            by = lvl - 1
        else:
            by = page_top[dest] - 1
            if lvl - by < 2:  # a second top section of a page sits below its title
                by = lvl - 2
        pages.setdefault(dest, []).extend(shift(body, by))

    order = [p for p, *_ in PAGES] + [UNMAPPED_PAGE[0]]
    info = {p: (t, d) for p, t, d, _ in PAGES}
    info[UNMAPPED_PAGE[0]] = UNMAPPED_PAGE[1:]
    existing = {}
    for p in order:
        path = os.path.join("docs", p)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            if MARK not in text:
                existing[p] = text.rstrip("\n").split("\n")
    for p in pages:
        if p in existing:
            report.append(f"note: docs/{p} is hand-written: the README's sections for it are appended to it; check for repetition")

    # The new README, before link rewriting (its anchors decide where links go).
    doc_map = ["## The docs", "", "The book is [docs/](docs/README.md) (`mdbook build docs` makes a site of it;",
               "nothing needs mdbook to build or test):", ""]
    for p in order:
        if p in pages or p in existing:
            title, what = info[p]
            doc_map.append(f"- [{title}](docs/{p}): {what}")
    doc_map.append("")
    readme = preamble + readme_body
    while readme and not readme[-1].strip():
        readme.pop()
    readme = readme + [""] + doc_map + HELP.rstrip("\n").split("\n") + ["", README_MARK]

    finals = {"README.md": readme}
    for p in order:
        if p in pages or p in existing:
            body = pages.get(p, [])
            if p in existing:
                body = existing[p] + ([""] + shift(body, -1) if body else [])  # appended under its `#`
            finals["docs/" + p] = body
    if "docs/jobs.md" in finals and "docs/providers.md" in finals:
        jobs = finals["docs/jobs.md"]
        if jobs and jobs[0].startswith("# ") and "providers.md)" not in "\n".join(jobs):
            finals["docs/jobs.md"] = jobs[:1] + ["", "Okra's successors, Prembly and Dojah, and failing over between them:",
                                                  "[Providers](docs/providers.md)."] + jobs[1:]
    page_anchors = {f: anchors(body) for f, body in finals.items()}

    def where(frag, here):
        if frag in page_anchors.get(here, ()):
            return here
        for f in ["README.md"] + [f"docs/{p}" for p in order]:
            if frag in page_anchors.get(f, ()):
                return f
        return None

    # Rewrite links: text that came from README.md, and README links in hand-written pages.
    out = {}
    for f, body in finals.items():
        p = f[len("docs/"):] if f.startswith("docs/") else None
        if p in existing:
            own = len(existing[p])
            moved = rewrite_links(body[own:], f, where, report)
            kept = rewrite_readme_links(body[:own], f, where, report)
            out[f] = kept + moved
        else:
            out[f] = rewrite_links(body, f, where, report)
    for p in os.listdir("docs") if os.path.isdir("docs") else []:
        f = "docs/" + p
        if p.endswith(".md") and f not in out and p not in ("README.md", "SUMMARY.md"):
            with open(f, encoding="utf-8") as fh:
                text = fh.read()
            if MARK not in text:
                out[f] = rewrite_readme_links(text.rstrip("\n").split("\n"), f, where, report)

    # The index, SUMMARY.md and book.toml.
    listed = [p for p in order if "docs/" + p in out]
    index = ["# okra-queue: the book", "",
             "The [README](../README.md) is the front door: what okra-queue is, `make run`, `make test` and",
             "a five-minute tour. These pages hold the rest, one concern each:", ""]
    index += [f"- [{info[p][0]}]({p}): {info[p][1]}" for p in listed]
    index += ["", "Working notes behind the provider layer are in [research/](research/providers.md).",
              "The pages build as an mdBook: `mdbook build docs` (output in target/book)."]
    summary = ["# Summary", "", "[The book](README.md)", ""]
    for p in listed:
        indent = "  " if p == "providers.md" and "jobs.md" in listed else ""
        summary.append(f"{indent}- [{info[p][0]}]({p})")
    book = ['[book]', 'title = "okra-queue"', 'src = "."', '', '[build]',
            'build-dir = "../target/book"', 'create-missing = false']
    out["docs/README.md"] = [MARK, ""] + index
    out["docs/SUMMARY.md"] = summary
    for f in list(out):
        if f.startswith("docs/") and f[5:] not in existing and f[5:] in pages and out[f][:1] != [MARK]:
            out[f] = [MARK, ""] + out[f]

    for f, body in sorted(out.items()):
        if f.startswith("docs/") and f[5:] in pages:
            for n, line in enumerate(body, 1):
                if "README" in line and "split-docs" not in line and "README.md" not in line:
                    report.append(f"note: {f}:{n} speaks of the README; the text may now be elsewhere")
    for line in report:
        print("split-docs:", line, file=sys.stderr)
    for f in sorted(out):
        print(f"split-docs: {f}: {len(out[f])} lines")
    if len(out["README.md"]) > 250:
        print(f"split-docs: WARNING: README.md is {len(out['README.md'])} lines (the aim is at most ~250)", file=sys.stderr)
    if check:
        return
    os.makedirs("docs", exist_ok=True)
    for f, body in out.items():
        while body and not body[-1].strip():
            body = body[:-1]
        with open(f, "w", encoding="utf-8") as fh:
            fh.write("\n".join(body) + "\n")
    with open("docs/book.toml", "w", encoding="utf-8") as fh:
        fh.write("\n".join(book) + "\n")


def rewrite_readme_links(lines, here, where, report):
    """In a page that was already in docs/: only its `../README.md#foo` links move."""
    out, fenced = [], False

    def fix(m):
        target, title = m.group(1), m.group(2) or ""
        path, _, frag = target.partition("#")
        if not frag or os.path.normpath(os.path.join(os.path.dirname(here), path)) != "README.md":
            return m.group(0)
        owner = where(frag, "README.md")
        if owner is None:
            report.append(f"link to ../README.md#{frag} (in {here}): no heading has that anchor; left as it was")
            return m.group(0)
        return "](" + os.path.relpath(owner, os.path.dirname(here)) + "#" + frag + title + ")"

    for line in lines:
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            new = LINK.sub(fix, line)
            if new != line:  # "(README, [the section](...))" no longer points into the README
                new = new.replace("README, [", "[")
            line = new
        out.append(line)
    return out


if __name__ == "__main__":
    main()
