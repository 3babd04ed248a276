"""Check one corpus part: `python datasets/parts/check_part.py datasets/parts/NAME.jsonl`."""
import collections
import json
import sys

KEYS = {"text", "category", "tier", "channel", "product", "amount", "series", "seq", "new_facts", "burst"}
CATEGORIES = {"催收行为", "定价收费", "客户服务", "营销宣传", "合同条款", "系统故障", "资金安全", "信息安全", "其他"}
TIERS = {"red", "yellow", "green"}
CHANNELS = {"hotline", "app", "web", "wechat", "branch", "letter"}
PRODUCTS = {"信用卡", "消费贷", "房贷", "车贷", "储蓄", "理财", "网贷助贷", "催收", "其他"}

path = sys.argv[1]
errors, rows = [], []
for n, line in enumerate(open(path, encoding="utf-8"), 1):
    if not line.strip():
        continue
    try:
        r = json.loads(line)
    except json.JSONDecodeError as e:
        errors.append(f"line {n}: bad JSON: {e}")
        continue
    if set(r) != KEYS:
        errors.append(f"line {n}: keys {sorted(set(r) ^ KEYS)} wrong")
        continue
    for key, allowed in [("category", CATEGORIES), ("tier", TIERS), ("channel", CHANNELS), ("product", PRODUCTS)]:
        if r[key] not in allowed:
            errors.append(f"line {n}: {key}={r[key]!r} not allowed")
    if r["amount"] is not None and not isinstance(r["amount"], (int, float)):
        errors.append(f"line {n}: amount must be a number or null")
    if (r["series"] is None) != (r["seq"] is None) or (r["series"] is None) != (r["new_facts"] is None):
        errors.append(f"line {n}: series, seq and new_facts are all null or all set")
    if not r["text"].strip():
        errors.append(f"line {n}: empty text")
    rows.append(r)
texts = collections.Counter(r["text"] for r in rows)
errors += [f"duplicate text: {t[:30]}" for t, c in texts.items() if c > 1]
for sid in {r["series"] for r in rows if r["series"]}:
    seqs = sorted(r["seq"] for r in rows if r["series"] == sid)
    if seqs != list(range(1, len(seqs) + 1)) or not 2 <= len(seqs) <= 4:
        errors.append(f"series {sid}: seq {seqs} must be 1..N with N in 2..4")
print("\n".join(errors) or "OK")
print(len(rows), "rows")
for key in ("category", "tier", "channel", "product"):
    print(key, dict(collections.Counter(r[key] for r in rows)))
lens = sorted(len(r["text"]) for r in rows)
if lens:
    print("length: <50:", sum(x < 50 for x in lens), " 50-200:", sum(50 <= x <= 200 for x in lens), " >200:", sum(x > 200 for x in lens))
print("series:", len({r['series'] for r in rows if r['series']}), " bursts:", dict(collections.Counter(r["burst"] for r in rows if r["burst"])))
sys.exit(1 if errors else 0)
