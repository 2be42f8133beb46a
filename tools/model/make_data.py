"""Generate synthetic grounded-FAQ training data (stdlib only, deterministic).

Every company, FAQ entry and value is invented here from tools/model/templates.txt and a fixed seed.
The demo FAQ (config/demo-faq.yaml) and ../shared/data are never read.

Targets (--target):
  pointer (default)  target = "[n]", the 1-based number of the context entry that answers the question; in
                     --none-share (15 %) of the examples the right entry is left out of the context (2-5
                     distractors, mostly hard negatives) and the target is "[0]" (no entry answers: abstain).
                     The product replies with entry n's answer verbatim (the model points, code copies).
                     --easy-share (0.6) of the TRAINING examples are easy (2-3 entries, random distractors,
                     half of the questions in the FAQ's wording): a curriculum; validation has none.
  answer             target = the right entry's answer text (the original design; no "[0]" examples).
The input string is the same in both modes (format.build_input).

Output (tools/model/data/):
  train.jsonl, val.jsonl   {"input": ..., "target": ..., "pointer": n (0 = none), "answer": right answer or null,
                            "company": ..., "k": ...}
  companies_train.json, companies_val.json   the generated FAQs (for inspection)
  corpus.txt               text for training the tokenizer (train companies only)

Usage: python make_data.py [--target pointer|answer] [--none-share 0.15] [--easy-share 0.6] [--train-companies 600] [--val-companies 40]
                          [--per-company 160] [--seed 1234]
"""

import argparse
import json
import os
import random
import re
import string

from format import build_input, norm

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_INPUT_CHARS = 1150  # keeps inputs under ~384 tokens with the trained tokenizer
TARGET = "pointer"  # --target: "pointer" ([n] / [0]) or "answer" (the answer text)
NONE_SHARE = 0.15  # --none-share: pointer mode, share of examples without the right entry (target "[0]")
NOISE = 0.0  # --noise: share of training answers with random word substitutions (forces copying over recall)
_WORDPOOL = []


def perturb(rng, text):
    """Replace ~30% of the words with random words/numbers so the answer cannot be recalled from templates."""
    out = []
    for w in text.split(" "):
        r = rng.random()
        if r < 0.2:
            out.append(rng.choice(_WORDPOOL))
        elif r < 0.3:
            out.append(str(rng.randint(0, 999)))
        else:
            out.append(w)
    return " ".join(out)

# ----------------------------------------------------------------------------- templates

def load_templates(path):
    domains, cur, block = {}, None, None
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if line.startswith("#") and not line.startswith("## "):
            continue
        if line.startswith("## "):
            cur = line[3:].strip()
            domains[cur] = []
            block = None
            continue
        if not line.strip():
            block = None
            continue
        tag, _, text = line.partition(": ")
        if block is None:
            block = {"Q": [], "P": [], "A": []}
            domains[cur].append(block)
        block[tag].append(text.strip())
    for d, blocks in domains.items():
        for b in blocks:
            assert b["Q"] and b["P"] and b["A"], (d, b)
    return domains


# ----------------------------------------------------------------------------- names and values

NAME_A = ["North", "Blue", "Silver", "Maple", "Harbor", "Summit", "Cedar", "River", "Sun", "Bright", "Oak", "Iron",
          "Lumen", "Nova", "Copper", "Willow", "Granite", "Coral", "Falcon", "Amber", "Birch", "Cobalt", "Echo", "Fern",
          "Golden", "Hazel", "Indigo", "Juniper", "Kestrel", "Lark", "Meadow", "Nimbus", "Orchid", "Pebble", "Quartz",
          "Redwood", "Sage", "Tidal", "Umber", "Velvet", "West", "Zephyr", "Aspen", "Basalt", "Clover", "Delta",
          "Ember", "Frost", "Glacier", "Horizon", "Ivy", "Jade", "Kite", "Lotus", "Mosaic", "Nordic", "Opal", "Prairie",
          "Quill", "Raven", "Solstice", "Thistle", "Urban", "Vista", "Wren", "Yarrow", "Atlas", "Beacon", "Crescent"]
NAME_B = ["wave", "field", "stone", "line", "point", "bridge", "light", "path", "works", "port", "leaf", "crest", "gate",
          "well", "brook", "dale", "ridge", "view", "side", "star", "wind", "bay", "hill", "spring", "mark", "way"]
DOMAIN_SUFFIX = {
    "software": ["Labs", "Cloud", "HQ", "Software", "Apps", "Analytics"],
    "travel": ["Air", "Travel", "Tours", "Airways", "Journeys"],
    "telecom": ["Mobile", "Telecom", "Connect", "Fiber", "Wireless"],
    "utilities": ["Energy", "Power", "Water", "Utilities", "Gas & Electric"],
    "education": ["College", "Academy", "Institute", "Learning", "School"],
    "retail": ["Store", "Supply", "Goods", "Outlet", "Market", "Home"],
    "healthcare": ["Clinic", "Health", "Medical Group", "Family Practice", "Care"],
    "insurance": ["Insurance", "Mutual", "Assurance", "Cover"],
    "delivery": ["Parcel", "Express", "Couriers", "Logistics", "Post"],
    "gym": ["Fitness", "Gym", "Athletic Club", "Strength", "Yoga Studio"],
    "restaurant": ["Kitchen", "Bistro", "Grill", "Cafe", "Trattoria", "Diner"],
    "hotel": ["Hotel", "Inn", "Suites", "Resort", "Lodge"],
    "carrental": ["Car Rental", "Rent-a-Car", "Auto Hire", "Drive"],
}
ITEM = {
    "software": ("subscription", "subscriptions"), "travel": ("booking", "bookings"), "telecom": ("plan", "plans"),
    "utilities": ("contract", "contracts"), "education": ("enrollment", "enrollments"), "retail": ("order", "orders"),
    "healthcare": ("appointment", "appointments"), "insurance": ("policy", "policies"),
    "delivery": ("shipment", "shipments"), "gym": ("membership", "memberships"),
    "restaurant": ("reservation", "reservations"), "hotel": ("reservation", "reservations"),
    "carrental": ("rental", "rentals"),
}
CITIES = ["Springfield", "Riverton", "Lakewood", "Fairview", "Georgetown", "Brookfield", "Ashford", "Millbrook",
          "Kingsport", "Hollowell", "Easton", "Westbury", "Clearwater", "Oakdale", "Port Avery", "Greenville",
          "Marlow", "Stonebridge", "Bayside", "Northam", "Elmstead", "Redhill", "Dunmore", "Carlisle"]
STREETS = ["Main Street", "Market Street", "Harbor Road", "Station Avenue", "Elm Street", "King's Road", "Park Lane",
           "Mill Road", "High Street", "Church Street", "Lake Drive", "Bridge Street", "Union Avenue", "Chestnut Way"]
REGIONS = ["the EU", "the US", "Canada", "the UK", "Australia", "Europe", "North America", "the Nordics", "Ireland"]
WEEKDAYS = ["Monday to Friday", "Monday-Friday", "weekdays", "Monday to Saturday", "Tuesday to Saturday"]
WEEKEND = ["Saturday", "Saturdays", "weekends", "Sunday", "Saturday and Sunday"]
DAYNAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
PROGRAMS = ["Rewards", "Club", "Plus", "Perks", "Circle", "Insider", "Points"]


def fmt_time(rng, lo, hi):
    h = rng.randint(lo, hi)
    m = rng.choice([0, 0, 0, 30])
    style = rng.random()
    if style < 0.5:
        suf = "am" if h < 12 else "pm"
        h12 = h if h <= 12 else h - 12
        return f"{h12}{':30' if m else ''} {suf}"
    return f"{h:02d}:{m:02d}"


def money(rng, cur, lo, hi):
    v = rng.randint(lo, hi)
    cents = rng.choice(["", "", ".99", ".95", ".50", ".00"]) if hi < 200 else ""
    if cur == "€" and rng.random() < 0.3:
        return f"{v}{cents.replace('.', ',')} €" if cents else f"{v} €"
    return f"{cur}{v}{cents}"


class Slots(dict):
    """Company values fixed at construction; numeric slots drawn on first use (so one answer is consistent)."""

    def __init__(self, rng, base):
        super().__init__(base)
        self.rng = rng

    def __missing__(self, key):
        r = self.rng
        kind = key.rstrip("0123456789")
        cur = self["cur"]
        gen = {
            "price": lambda: money(r, cur, 2, 99),
            "bigprice": lambda: f"{cur}{r.randrange(100, 3000, 50):,}",
            "hours": lambda: r.choice([1, 2, 4, 6, 12, 24, 24, 48, 72]),
            "mins": lambda: r.choice([5, 10, 15, 20, 30, 45, 60, 90]),
            "secs": lambda: r.choice([30, 60, 90]),
            "days": lambda: r.choice([2, 3, 5, 7, 10, 14, 14, 21, 30, 30, 45, 60, 90]),
            "n": lambda: r.randint(2, 9),
            "nexpress": lambda: r.randint(1, 2),
            "years": lambda: r.randint(1, 7),
            "months": lambda: r.choice([2, 3, 6, 12, 18, 24]),
            "nmonths": lambda: r.randint(1, 3),
            "weeks": lambda: r.randint(2, 8),
            "pct": lambda: f"{r.randrange(5, 55, 5)}%",
            "gb": lambda: r.choice([1, 2, 5, 10, 15, 20, 50, 100]),
            "bignum": lambda: f"{r.choice([50, 100, 150, 250, 500, 1000, 2000, 5000, 10000]):,}",
            "smallnum": lambda: r.choice([10, 20, 30, 60, 100]),
            "uptime": lambda: r.choice(["99.9", "99.95", "99.5", "99.99"]),
            "cents": lambda: r.randint(3, 45),
            "dom": lambda: r.randint(1, 28),
            "month": lambda: r.choice(MONTHS),
            "season": lambda: r.choice(["fall", "spring", "summer", "winter", "autumn"]),
            "weekday": lambda: r.choice(DAYNAMES),
            "kg": lambda: r.choice([5, 7, 8, 10, 15, 20, 25, 30]),
            "cm": lambda: r.choice([5, 10, 20, 30, 45, 55, 60, 100, 120]),
            "km": lambda: r.choice([3, 5, 8, 10, 50, 100, 150, 200]),
            "age": lambda: r.choice([16, 18, 21, 23, 25]),
            "ios": lambda: r.randint(14, 18),
            "android": lambda: r.randint(9, 14),
            "macos": lambda: r.randint(12, 15),
            "ram": lambda: r.choice([4, 8, 16]),
            "nlang": lambda: r.randint(3, 40),
            "ncountry": lambda: r.randint(12, 190),
            "ncity": lambda: r.randint(4, 60),
            "nth": lambda: r.choice(["5th", "10th", "3rd", "fourth"]),
            "open": lambda: fmt_time(r, 6, 10),
            "close": lambda: fmt_time(r, 17, 22),
            "city": lambda: r.choice(CITIES),
            "street": lambda: f"{r.randint(1, 250)} {r.choice(STREETS)}",
        }.get(kind)
        if gen is None:
            raise KeyError(key)
        v = gen()
        self[key] = v
        return v


_FIELD = re.compile(r"\{(\w+)\}")


def fill(template, slots):
    return _FIELD.sub(lambda m: str(slots[m.group(1)]), template)


# ----------------------------------------------------------------------------- companies

def make_company(rng, domain, templates, used_names):
    while True:
        name = f"{rng.choice(NAME_A)}{rng.choice(NAME_B)} {rng.choice(DOMAIN_SUFFIX[domain])}"
        if name not in used_names and "pinecone" not in name.lower():
            used_names.add(name)
            break
    slug = re.sub(r"[^a-z0-9]", "", name.lower())[: rng.randint(8, 20)]
    tld = rng.choice([".example", ".example", ".com", ".io", ".co", ".net", ".org"])
    dom = slug + tld
    site = rng.choice([dom, dom, "www." + dom, "help." + dom, "https://" + dom])
    item, items = ITEM[domain]
    base = {
        "co": name, "domain": dom, "site": site,
        "email": f"{rng.choice(['support', 'help', 'hello', 'care', 'service', 'team'])}@{dom}",
        "phone": rng.choice([f"1-800-555-{rng.randint(100, 9999):04d}", f"+1 ({rng.randint(200, 989)}) 555-{rng.randint(1000, 9999)}",
                             f"0{rng.randint(20, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
                             f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}", f"{rng.randint(100, 999)}-555-{rng.randint(1000, 9999)}"]),
        "app": name.split()[0] if rng.random() < 0.6 else name,
        "program": f"{name.split()[0]} {rng.choice(PROGRAMS)}",
        "cur": rng.choice(["$", "$", "$", "€", "£"]),
        "region": rng.choice(REGIONS),
        "weekdays": rng.choice(WEEKDAYS), "weekend": rng.choice(WEEKEND),
        "item": item, "items": items,
        "city": rng.choice(CITIES), "street": f"{rng.randint(1, 250)} {rng.choice(STREETS)}",
        "open": fmt_time(rng, 7, 10), "close": fmt_time(rng, 16, 21),
        "open2": fmt_time(rng, 8, 11), "close2": fmt_time(rng, 12, 18),
    }
    pool = [("generic", i) for i in range(len(templates["generic"]))] + [(domain, i) for i in range(len(templates[domain]))]
    n_entries = rng.randint(15, min(40, len(pool)))
    # domain topics are always well represented
    dom_topics = [t for t in pool if t[0] == domain]
    gen_topics = [t for t in pool if t[0] == "generic"]
    n_dom = min(len(dom_topics), max(6, n_entries // 3 + rng.randint(0, 6)))
    chosen = rng.sample(dom_topics, n_dom) + rng.sample(gen_topics, min(len(gen_topics), n_entries - n_dom))
    entries = []
    all_answers = [a for d in templates.values() for b in d for a in b["A"]]
    for (d, i) in chosen:
        b = templates[d][i]
        slots = Slots(rng, base)
        q = fill(rng.choice(b["Q"]), slots)
        a = fill(rng.choice(b["A"]), slots)
        if rng.random() < 0.25:  # extra sentence from an unrelated topic: more varied text to copy
            extra = rng.choice(all_answers)
            sents = re.split(r"(?<=\.) ", extra)
            a = a + " " + fill(rng.choice(sents), slots)
        if NOISE and rng.random() < NOISE:
            a = perturb(rng, a)
        entries.append({"topic": f"{d}/{i}", "question": norm(q), "answer": norm(a),
                        "paraphrases": [norm(fill(p, slots)) for p in b["P"]],
                        "variants": [norm(fill(x, slots)) for x in b["Q"]]})
    return {"name": name, "domain": domain, "entries": entries}


# ----------------------------------------------------------------------------- examples

PREFIX = ["hi, ", "hey ", "hello, ", "quick question: ", "hi there, ", "question - ", "can you tell me ", "good morning, "]
SUFFIX = [" thanks", " thank you", " please", " ?", "??", " asap", " thx"]
TOKEN = re.compile(r"[a-z0-9]+")
STOP = set("a an the i my me you your we our to of for in on at is are do does can how what when where why it be "
           "with and or if this that there from by as".split())


def words(text):
    return {w for w in TOKEN.findall(text.lower()) if w not in STOP}


def user_question(rng, entry):
    r = rng.random()
    if r < 0.08:
        q = entry["question"]
    elif r < 0.18:
        q = rng.choice(entry["variants"])
    else:
        q = rng.choice(entry["paraphrases"])
    if rng.random() < 0.4:
        q = q.lower()
    if rng.random() < 0.3:
        q = q.rstrip("?.!")
    if rng.random() < 0.12:
        q = rng.choice(PREFIX) + (q[0].lower() + q[1:] if q else q)
    if rng.random() < 0.08:
        q = q + rng.choice(SUFFIX)
    return norm(q)


def make_example(rng, company, others, easy=0.0):
    entries = company["entries"]
    right = rng.choice(entries)
    is_easy = bool(easy) and rng.random() < easy
    # easy example (pointer curriculum): half of the questions are the FAQ wording or a variant of it, contexts are
    # shorter (2-3 entries) and the distractors are random entries of the same FAQ instead of hard negatives
    q = norm(rng.choice([right["question"]] + right["variants"])) if is_easy and rng.random() < 0.5 \
        else user_question(rng, right)
    none = TARGET == "pointer" and rng.random() < NONE_SHARE
    k = rng.choices([2, 3], weights=[60, 40])[0] if is_easy else rng.choices([2, 3, 4, 5], weights=[20, 40, 22, 18])[0]
    qw = words(q)
    scored = sorted((-(len(qw & words(e["question"] + " " + e["answer"])) + rng.random() * 0.5), j)
                    for j, e in enumerate(entries) if e is not right)
    cand = [entries[j] for _, j in scored]
    if is_easy:
        rng.shuffle(cand)
    distract = []
    for _ in range(k if none else k - 1):  # without the right entry: k distractors (2-5)
        if rng.random() < 0.1:
            oc = rng.choice(others)
            pool = [e for e in oc["entries"] if e["topic"] != right["topic"]] if TARGET == "pointer" else oc["entries"]
            distract.append(rng.choice(pool))  # pointer mode: never the same topic (it would answer too)
        else:
            # mostly the top-ranked (hard) ones, sometimes any
            pick = cand.pop(0) if (rng.random() < 0.75 or len(cand) < 2) else cand.pop(rng.randrange(len(cand)))
            distract.append(pick)
    ctx = distract if none else distract + [right]
    rng.shuffle(ctx)
    pairs = [(e["question"], e["answer"]) for e in ctx]
    inp = build_input(q, pairs)
    while len(inp) > MAX_INPUT_CHARS and len(pairs) > 2:
        drop = rng.choice([i for i, e in enumerate(ctx) if e is not right])
        ctx.pop(drop)
        pairs = [(e["question"], e["answer"]) for e in ctx]
        inp = build_input(q, pairs)
    n = 0 if none else next(i for i, e in enumerate(ctx, start=1) if e is right)
    target = f"[{n}]" if TARGET == "pointer" else right["answer"]
    return {"input": inp, "target": target, "pointer": n, "answer": None if none else right["answer"],
            "company": company["name"], "k": len(pairs)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-companies", type=int, default=600)
    ap.add_argument("--val-companies", type=int, default=40)
    ap.add_argument("--per-company", type=int, default=160)
    ap.add_argument("--val-per-company", type=int, default=25)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--noise", type=float, default=0.0, help="share of train answers with random word substitutions")
    ap.add_argument("--target", choices=["pointer", "answer"], default="pointer",
                    help="pointer: target [n] (entry number, [0] = none); answer: the answer text")
    ap.add_argument("--none-share", type=float, default=0.15,
                    help="pointer mode: share of examples whose context lacks the right entry (target [0])")
    ap.add_argument("--easy-share", type=float, default=None,
                    help="share of training examples (not validation) that are easy: 2-3 entries, random distractors "
                         "of the same FAQ instead of mostly hard negatives, half of the questions in the FAQ's own "
                         "wording; an easier signal for the pointer model to start from (default 0.6 for "
                         "--target pointer, 0 for answer)")
    ap.add_argument("--out", default=os.path.join(HERE, "data"))
    args = ap.parse_args()

    templates = load_templates(os.path.join(HERE, "templates.txt"))
    domains = [d for d in templates if d != "generic"]
    rng = random.Random(args.seed)
    used = set()
    global NOISE, TARGET, NONE_SHARE
    TARGET, NONE_SHARE = args.target, args.none_share
    if args.easy_share is None:
        args.easy_share = 0.6 if args.target == "pointer" else 0.0
    _WORDPOOL.extend(sorted({w for d in templates.values() for b in d for t in b["A"] + b["Q"] + b["P"]
                             for w in t.split() if "{" not in w}))
    # held-out companies first, from their own seed, so they are the same whatever the training settings
    NOISE = 0.0
    vrng = random.Random(args.seed + 999)
    val_cos = [make_company(vrng, domains[i % len(domains)], templates, used) for i in range(args.val_companies)]
    NOISE = args.noise
    train_cos = [make_company(rng, domains[i % len(domains)], templates, used) for i in range(args.train_companies)]
    os.makedirs(args.out, exist_ok=True)

    def write(name, cos, per, pool, rng=rng, easy=0.0):
        n = 0
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            for c in cos:
                for _ in range(per):
                    f.write(json.dumps(make_example(rng, c, pool, easy), ensure_ascii=False) + "\n")
                    n += 1
        return n

    ntr = write("train.jsonl", train_cos, args.per_company, train_cos, easy=args.easy_share)
    # shuffle train lines deterministically
    lines = open(os.path.join(args.out, "train.jsonl"), encoding="utf-8").readlines()
    random.Random(args.seed + 1).shuffle(lines)
    open(os.path.join(args.out, "train.jsonl"), "w", encoding="utf-8").writelines(lines)
    nva = write("val.jsonl", val_cos, args.val_per_company, val_cos, vrng)
    json.dump(train_cos, open(os.path.join(args.out, "companies_train.json"), "w"), indent=1)
    json.dump(val_cos, open(os.path.join(args.out, "companies_val.json"), "w"), indent=1)
    with open(os.path.join(args.out, "corpus.txt"), "w", encoding="utf-8") as f:
        for c in train_cos:
            for e in c["entries"]:
                f.write(e["question"] + "\n" + e["answer"] + "\n")
                for p in e["paraphrases"]:
                    f.write(p + "\n")
        f.write("question: context: [1] [2] [3] [4] [5] [6] =>\n")
    print(f"train: {ntr} examples from {len(train_cos)} companies; val: {nva} from {len(val_cos)} held-out companies"
          f" (target: {args.target})")


if __name__ == "__main__":
    main()
