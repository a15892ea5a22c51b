#!/usr/bin/env bash
# Do two versions of distlaw write the same files?  bash benchmarks/same_outputs.sh OLD_REV [NEW_REV]
#
# For a refactor that must keep every output: runs the same 20 commands (generate, fit of every
# law with bootstrap, holdout, ties, groups, fixed coefficients, predict, plan in every form,
# isoflop, the paper atlas, query, an error) from a checkout of OLD_REV and of NEW_REV (default:
# the working tree) on the same inputs, and compares every file they write, byte for byte
# (the atlas by its files' sha256). Prints "same" or "DIFF" per output; exit 1 on any DIFF.
# Needs the project's .venv (python3 -m venv .venv && .venv/bin/pip install -e '.[test]').
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON="$ROOT/.venv/bin/python"
WORK=$(mktemp -d)
trap 'git -C "$ROOT" worktree remove --force "$WORK/old" >/dev/null 2>&1; git -C "$ROOT" worktree remove --force "$WORK/new" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
git -C "$ROOT" worktree add -q --detach "$WORK/old" "$1"
if [ $# -ge 2 ]; then git -C "$ROOT" worktree add -q --detach "$WORK/new" "$2"; NEW="$WORK/new"; else NEW="$ROOT"; fi

outputs() {  # outputs CODE_ROOT OUT_DIR
    local code=$1 out=$2
    mkdir -p "$out" && cd "$out" || exit 1
    local d="env PYTHONPATH=$code DISTLAW_CACHE_DIR= $PYTHON -m distlaw"
    $d generate supervised -o sup.csv --runs 120 --noise 0.005 > /dev/null
    $d generate distillation -o dist.csv --runs 200 > /dev/null
    $d generate chinchilla -o chin.csv --runs 100 > /dev/null
    $d fit sup.csv --law supervised -o fit_sup.json --bootstrap 20 --holdout "loss < 2.5" > /dev/null
    $d fit chin.csv --law chinchilla -o fit_chin.json --fix beta=0.3 > /dev/null
    $d fit gadre2024 --where "in_published_fit" --law chinchilla --tie beta=alpha --residuals linear \
        --huber-delta inf -o gadre.json > /dev/null
    $d fit muennighoff2023 --law data_constrained --huber-delta 1e-3 --where "in_fitset_182" -o dc.json > /dev/null
    $d fit dist.csv --law distillation --supervised paper -o fit_dist.json --bootstrap 8 --max-iterations 100 > /dev/null
    $d fit gadre2024 --law chinchilla --group-by dataset -o groups.json --huber-delta 1e-3 > /dev/null
    $d predict gadre.json gadre2024 --where "is_published_target" -o targets.csv > /dev/null
    $d predict fit_dist.json dist.csv -o dist_pred.csv > /dev/null
    $d plan --student-params 3e8,1e9 --budget 1e19:1e25:7 --json > plan.json
    $d plan --student-params 1e9 --budget 1e22 --scenario teacher-pretraining --students 4 --six-nd --json > plan2.json
    $d plan --student-params 1e9 --budget 1e21,1e22 --teacher-loss 2.3 --json > plan3.json
    $d plan --student-params 1e9 --budget 1e21 --fit fit_dist.json > plan4.txt
    $d isoflop porian2024 --where "configuration == 'rw/tuned/short/const/standard/val'" -o iso.json \
        --bootstrap 100 > /dev/null
    cp -r "$ROOT/sweeps" sweeps_in
    $d atlas sweeps_in/paper.toml -o atlas > /dev/null
    $d query atlas --student-params 1e9,2e9 --student-tokens 2e10:2e11:3 --teacher-params 3e9 \
        --teacher-tokens 1e11 --json > query.json
    (cd atlas && find . -name "*.parquet" | sort | xargs sha256sum) > atlas_hashes.txt
    $d plan --student-params 1e9 --budget 1e15 --json > plan5.json 2>&1; echo "rc=$?" >> plan5.json
}

(outputs "$WORK/old" "$WORK/out-old")
(outputs "$NEW" "$WORK/out-new")
status=0
for f in $(cd "$WORK/out-old" && ls *.json *.csv *.txt); do
    if cmp -s "$WORK/out-old/$f" "$WORK/out-new/$f"; then echo "same $f"; else echo "DIFF $f"; status=1; fi
done
exit $status
