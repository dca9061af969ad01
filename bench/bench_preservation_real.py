"""Preservation weight on the real preset: one donor's gene extracted with ``lam`` (the weight of KL(host ||
host+gene) on the bare host's own continuations of general prompts) and ``steps``, everything else as
``genehub.zoo.real.extract_config()``; prints one JSON line: skill exact match on the seen and held-out
phrasings, and agreement with the bare host on 64 general prompts of families no extraction saw (its greedy
24-token continuation, teacher-forced: per token and the whole continuation), and the seconds it took.

    python bench/bench_preservation_real.py 4 40            # lam 4, 40 steps, the roman donor
    python bench/bench_preservation_real.py 10 40 date_words
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peft import PeftModel  # noqa: E402

from genehub.evaluate import exact_match, reference_rows, token_match  # noqa: E402
from genehub.hosts import load_host  # noqa: E402
from genehub.lorafy import extract  # noqa: E402
from genehub.zoo import real  # noqa: E402

lam = float(sys.argv[1]); steps = int(sys.argv[2]); skill = sys.argv[3] if len(sys.argv) > 3 else "roman"
z = real.build(donors=(skill,))
out = f"/tmp/exp_{skill}_lam{lam}_s{steps}"
t = time.time()
extract(z.donors[skill], z.host, z.skill_data(skill), out, real.extract_config(lam=lam, steps=steps), general=z.general())
host, tok = load_host(z.host)
gt = z.general_test(64)
refs = reference_rows(host, tok, [r["prompt"] for r in gt], max_new_tokens=24)
m = PeftModel.from_pretrained(load_host(z.host)[0], out).eval()
test = z.test_rows([skill])[skill]
hits = exact_match(m, tok, test)
seen = [h for h, r in zip(hits, test) if not r["heldout"]]; held = [h for h, r in zip(hits, test) if r["heldout"]]
print(json.dumps({"lam": lam, "steps": steps, "skill": skill, "seen": sum(seen)/len(seen), "heldout": sum(held)/len(held),
      "general_tokens": sum(token_match(m, tok, refs))/64, "general_exact": sum(exact_match(m, tok, refs))/64, "s": round(time.time()-t)}))
