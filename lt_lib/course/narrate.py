"""Conclusions worded from stored numbers, so that a notebook's "What we saw" can never go stale.

Every sentence a notebook concludes with is built here from values read from the results store:
comparisons are chosen by the numbers (higher, lower, level), never typed in advance.
"""
from __future__ import annotations

import math

import pandas as pd

LEVEL = 0.5  # points: closer than this is "level with" (one seed's noise is larger still)


def known(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def pct(x) -> str:
    return f"{x:.2f}%" if known(x) else "n/a"


def versus(a, b, what: str = "", unit: str = "points") -> str:
    """'3.21 points above <what>' / 'below' / 'level with' (within LEVEL)."""
    if not (known(a) and known(b)):
        return f"not comparable with {what} yet"
    d = a - b
    if abs(d) < LEVEL:
        return f"level with {what} (within {LEVEL:g} {unit})"
    return f"{abs(d):.2f} {unit} {'above' if d > 0 else 'below'} {what}"


def profiles_words(a, b) -> str:
    """'a quick run against a full one': why two stored runs are not compared."""
    return f"a {a.get('profile')} run against a {b.get('profile')} one"


def versus_runs(a, b, what: str) -> str:
    """``versus`` of two stored runs' final accuracy, only when they share a profile (a 30-epoch run
    against a 200-epoch one says nothing about a setting)."""
    if a.get("profile") != b.get("profile"):
        return f"not comparable with {what} yet ({profiles_words(a, b)})"
    return versus(a["overall"], b["overall"], what)


def run_words(row) -> str:
    """'model7 at ratio 100 (quick, 30 epochs)' for a row of ``Notebook.runs``."""
    extra = f", {row['setting']}" if row.get("setting") == "old setting" else ""
    return f"{row['experiment']} at ratio {row['imbalance']:g} ({row.get('shown as', row.get('profile'))}{extra})"


def runs_listed(lead: str, rows: pd.DataFrame) -> str:
    """'<lead>: model7 at ratio 100 (quick, 30 epochs): 29.94%; ...' for stored runs set aside from a
    comparison (another schedule), or "" when there are none."""
    if rows.empty:
        return ""
    return f"{lead}: " + "; ".join(f"{run_words(r)}: {pct(r['overall'])}" for _, r in rows.iterrows()) + "."


FINISHED = ("completed", "diverged")


def has_run(row) -> bool:
    """Whether a row of ``Notebook.runs`` holds a finished stored run (not "not run yet", not "damaged")."""
    return row.get("status") in FINISHED


def stored(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``runs`` that have a finished stored run."""
    return runs[runs["status"].isin(FINISHED)] if len(runs) else runs


def missing_words(runs: pd.DataFrame) -> str:
    gone = runs[runs["status"] == "not run yet"] if len(runs) else runs
    if gone.empty:
        return ""
    names = ", ".join(f"{r.experiment} at {r.imbalance:g}" for r in gone.itertuples())
    return f"Not run yet: {names}; the conclusions above will change when they are."


def quick_caveat(runs: pd.DataFrame) -> str:
    s = stored(runs)
    if len(s) and (s["profile"] == "quick").any():
        return ("Rows marked quick are 30-epoch runs: they show the direction of a change on a short schedule, "
                "not the report's 200-epoch numbers.")
    return ""


def what_we_saw(*paragraphs):
    """The notebook's closing cell: a Markdown block of the given (generated) paragraphs."""
    from IPython.display import Markdown

    body = "\n\n".join(p for p in paragraphs if p)
    return Markdown("### What we saw\n\n" + body)


def exit_words(nb, rows) -> list[str]:
    """One sentence per stored early-exit run of ``rows`` (``Notebook.runs``): its accuracy, where its test
    images leave, its FLOPs, what the same weights give with no early exit, and an exit that answers one
    class for every image when it does."""
    from ..learn.data import CLASSES

    out = []
    for r in stored(rows).to_dict("records"):
        s = nb.summary(r)
        ex = s["exits"]
        shares = ", ".join(f"{100 * f:.1f}%" for f in ex["fraction"])
        acc1 = ex["accuracy"][0]
        state = (f"diverged at epoch {s['divergence']['epoch']} ({s['divergence']['reason']}), "
                 if s["status"] == "diverged" else "")
        no_exit = no_exit_accuracy(s)
        one = [c for c, a in enumerate(s["final"]["per_class"]) if a == 100.0] if r["overall"] == 10.0 else []
        out.append(f"{run_words(r)}: {state}{pct(r['overall'])} (many {pct(r['many'])}, medium {pct(r['medium'])}, "
                   f"few {pct(r['few'])}); test images leaving at exits 1/2/3: {shares}, for {ex['flops_ratio']:.2f} of "
                   "the full network's FLOPs" + (f"; exit 1 is right on {acc1:.1f}% of those it takes"
                                                 if acc1 is not None else "")
                   + f". With no early exit (threshold 1.0) the same weights give {pct(no_exit)}"
                   + (f"; with its exits it ends {versus(r['overall'], no_exit, 'that')}: the early exits "
                      + ("cost accuracy (the images they take are answered worse than the last exit would)"
                         if r["overall"] < no_exit - LEVEL else "help (the deepest exit alone is worse)"
                         if r["overall"] > no_exit + LEVEL else "change little") if known(no_exit) else "") + "."
                   + (f" Every test image is answered class {one[0]} ({CLASSES[one[0]]}): an early exit that says one "
                      "class, confidently, for every image." if one else "")
                   + saturation_words(nb.config(r), ex["fraction"][0], r)
                   + routed_words(nb, r, s))
    return out


def routed_words(nb, r, s) -> str:
    """What the routed rule left the early exits of a stored routed run (``r`` a row, ``s`` its summary) to
    learn from. An exit's loss counts only the training images that leave there, those it already answers
    right above the training threshold: an exit that answers one class for every image takes only that
    class's images and never learns another (and the last exit is trained on none of them), and an exit
    that takes no image has nothing to learn from. Read from the history's per-epoch training shares and,
    where stored, every exit's test predictions."""
    from ..learn.data import CLASSES

    cfg = nb.config(r)
    if cfg is None or not cfg.early_exits or cfg.aggregation != "routed":
        return ""
    history, outputs = nb.history(r), nb.predictions(r)
    counts, images = s["data"]["counts"], s["data"]["train_images"]
    early = range(len(s["exits"]["fraction"]) - 1)
    if not len(history) or any(f"train_exit_{k + 1}" not in history for k in early):
        return ""
    parts, locked = [], []
    for k in early:
        took = (history[f"train_exit_{k + 1}"] * images).round().astype(int)
        answers = None
        if outputs is not None:
            said = outputs["predictions"][k]
            c = int(pd.Series(said).value_counts().idxmax())
            answers = (c, 100.0 * float((said == c).mean()))
        if took.iloc[-1] == 0:
            taking = history["epoch"][took > 0]
            what = (f"exit {k + 1} never took a training image" if taking.empty else
                    f"exit {k + 1} took {took.sum():,} training image{'s' if took.sum() != 1 else ''} in all, none "
                    f"after epoch {taking.max()}")
            parts.append(what + ", so it had nothing to learn from" + (
                f" (it answers class {answers[0]} ({CLASSES[answers[0]]}) for {answers[1]:.1f}% of the test "
                "images)" if answers else ""))
        elif answers and answers[1] == 100.0 and took.iloc[-1] == counts[answers[0]]:
            c = answers[0]
            epochs = history["epoch"]
            other = epochs[took != counts[c]]  # epochs in which it took anything else
            when = (f"in every one of its {len(epochs)} epochs" if other.empty else
                    f"in every epoch from epoch {epochs[epochs > other.max()].min()} to {epochs.iloc[-1]}")
            parts.append(f"exit {k + 1} answers class {c} ({CLASSES[c]}) for every test image, and took exactly "
                         f"the {counts[c]:,} training images of that class {when}, the only ones it can answer "
                         "right, so it never learns another")
            locked.append(c)
    if not parts:
        return ""
    text = (f" Under the routed rule an early exit learns only from the training images it already answers right "
            f"with confidence above {cfg.train_threshold:g}: " + "; ".join(parts) + ".")
    if locked:
        labels, last = outputs["labels"], outputs["predictions"][-1]
        right = [f"{100.0 * float((last[labels == c] == c).mean()):.1f}% of class {c} ({CLASSES[c]})" for c in locked]
        text += (" So the last exit is trained on none of " + ("those images" if len(locked) == 1 else
                 "these classes' images") + ": with no early exit it is right on " + " and ".join(right) + ".")
    return text


def saturation_words(cfg, first_share: float, r) -> str:
    """Why an exit on scaled logits takes nearly every image: softmax(s z) over C classes passes the
    threshold t as soon as the top logit leads every other by ln((C - 1) t / (1 - t)) / s."""
    if cfg is None or first_share < 0.9 or cfg.confidence_scale <= 1.0:
        return ""
    t, s = cfg.inference_threshold, cfg.confidence_scale
    lead = math.log(9 * t / (1 - t)) / s  # CIFAR-10: nine other classes
    return (f" Exit 1 takes {100 * first_share:.1f}% of the images because its confidence is the softmax of "
            f"{s:g} x cos: a cosine lead of {lead:.3f} over every other class (cosines span 2) already passes the "
            f"threshold {t:g}, so an exit that hardly separates the classes still decides, and the classes it "
            f"learned least pay (few {pct(r['few'])}).")


def no_exit_accuracy(summary: dict):
    """What a stored early-exit run's weights give with no early exit (every image to the last exit)."""
    return next((row["overall"] for row in summary["exits"]["sweep"] if row["threshold"] == 1.0), None)


def pair_words(nb, a, b, name_a: str, name_b: str) -> str:
    """Two stored early-exit runs of one profile compared twice: as trained (with their exits) and with no
    early exit. Where the two orders differ, the difference is the exits' doing, and the sentence names
    the exit that makes it."""
    if a.get("profile") != b.get("profile"):
        return f"{name_a} and {name_b} are not comparable yet ({profiles_words(a, b)})."
    head = f"{name_a} ends {versus_runs(a, b, name_b)}"
    sa, sb = nb.summary(a), nb.summary(b)
    na, nb_ = no_exit_accuracy(sa), no_exit_accuracy(sb)
    if not (known(na) and known(nb_)):
        return head + "."

    def order(d):
        return 0 if abs(d) < LEVEL else (1 if d > 0 else -1)

    deep = f"with no early exit the same weights give {pct(na)} against {pct(nb_)} ({versus(na, nb_, name_b)})"
    if order(a["overall"] - b["overall"]) == order(na - nb_):
        return f"{head}; {deep}: the difference is in the networks, not only in their exits."
    exits = []
    for name, s in ((name_a, sa), (name_b, sb)):
        frac, acc = s["exits"]["fraction"][0], s["exits"]["accuracy"][0]
        exits.append(f"{name} sends {100 * frac:.1f}% of the test images out at exit 1"
                     + (f" and is right on {acc:.1f}% of them" if acc is not None else ""))
    return (f"{head}, but {deep}: the order as trained comes from the early exits, not from what the deepest "
            f"exit learned ({exits[0]}; {exits[1]}).")


def setting_differences(a: str, b: str, ratio: float = 100) -> dict:
    """The settings in which two registry entries differ at a ratio: {field: (a's value, b's value)}."""
    from ..learn.experiments import resolve

    x, y = resolve(a, ratio).to_dict(), resolve(b, ratio).to_dict()
    return {k: (x[k], y.get(k)) for k in x if k != "experiment" and x[k] != y.get(k)}


def confound_words(a: str, b: str, factor: str, ratio: float = 100) -> str:
    """Whether comparing two entries isolates ``factor``: names every other setting they differ in."""
    diff = setting_differences(a, b, ratio)
    others = {k: v for k, v in diff.items() if k != factor}
    if factor not in diff:
        return f"{a} and {b} do not differ in {factor}: their comparison says nothing about it."
    if not others:
        return f"{a} against {b} changes {factor} alone: their difference is {factor}'s."
    listed = ", ".join(f"{k} ({v[0]} against {v[1]})" for k, v in others.items())
    return (f"{a} against {b} is not a test of {factor} alone: they also differ in {listed}, so their difference "
            f"mixes the {len(others) + 1} changes; one seed of each cannot separate them.")


def gain_words(table, method: str, baseline: str, ratio) -> str:
    """Whether a method's gain over a baseline reproduces: ours (best epoch, like the papers) against the
    published gain, from the calibration table (rows of current-setting runs of the same profile)."""
    def row(name):
        t = table[(table.experiment == name) & (table.ratio == ratio) & (table.setting == "current")]
        return t.iloc[0] if len(t) else None

    m, b = row(method), row(baseline)
    if m is None or b is None or not (known(m["ours (best epoch, test-selected)"]) and
                                      known(b["ours (best epoch, test-selected)"])):
        return ""
    if m["runs"].split(",")[0] != b["runs"].split(",")[0]:
        return f"{method} and {baseline} at ratio {ratio:g} are stored under different profiles: no gain to read yet."
    ours = m["ours (best epoch, test-selected)"] - b["ours (best epoch, test-selected)"]
    if not (m["published as"] == b["published as"] == "best epoch"):
        return ""
    published = m["published"] - b["published"]
    common = (m["gap (like for like)"] + b["gap (like for like)"]) / 2
    verdict = "reproduced" if abs(ours - published) < 1.0 else "smaller here" if ours < published else "larger here"
    meaning = {"reproduced": "what the two share (the data, the pipeline) moves both, and the method's own effect "
                             "survives it",
               "smaller here": "beyond what the two share, part of the method's own gain is lost here",
               "larger here": "beyond what the two share, the method gains more here than in its paper"}[verdict]
    return (f"At ratio {ratio:g}, {method} gains {ours:+.2f} points over {baseline} here ({m['runs'].split(',')[0]}, "
            f"best epochs) against {published:+.2f} published: the gain is {verdict} "
            f"({versus(ours, published, 'the published gain')}), while both sit about {abs(common):.1f} points "
            + ("below" if common < 0 else "above") + f" their published numbers: {meaning}.")


def split_words(method_summary: dict, baseline_summary: dict, method: str, baseline: str, ratio) -> str:
    """Where a method's gain over a baseline comes from: the final epoch's change on the many-, medium- and
    few-shot classes. The balanced test set holds 1,000 images of each class, so the overall change is the
    splits' changes weighted by their share of the ten classes (many 3, medium 3, few 4)."""
    from ..learn.data import SPLITS

    a, b = method_summary["final"], baseline_summary["final"]
    d = {k: a[k] - b[k] for k in SPLITS}
    overall = a["overall"] - b["overall"]
    share = {k: len(v) / sum(len(c) for c in SPLITS.values()) for k, v in SPLITS.items()}
    words = (f"At ratio {ratio:g}, by split (final epochs), {method} against {baseline}: "
             + ", ".join(f"{k} {d[k]:+.2f}" for k in SPLITS)
             + f"; overall {overall:+.2f} = " + " + ".join(f"{share[k]:g} x {k}" for k in SPLITS) + ".")
    head = min(d["many"], d["medium"])
    if d["few"] > LEVEL and head < -LEVEL:
        tail = share["few"] * d["few"]
        rest = tail - overall  # what the many- and medium-shot classes take from the overall
        return (words + f" Accuracy moves from the head to the tail: the few-shot classes add {tail:+.2f} to the "
                f"overall, the many- and medium-shot ones {'take' if rest > 0 else 'add'} {abs(rest):.2f}; the tail "
                f"had {100 - b['few']:.2f} points to win back ({baseline} reaches {b['few']:.2f}% on the few-shot "
                "classes).")
    if min(d.values()) > -LEVEL:
        return words + f" {method} loses on no split: its gain is not a trade between head and tail."
    if max(d.values()) < LEVEL:
        return words + f" {method} gains on no split."
    return words
