"""The planner: one test per row of the breeding strategy matrix, plus budgets, emitted plans and the ledger."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import pytest
import yaml
from _breeding import family, make_gene

from genehub.breeding import Budget, get_method, plan
from genehub.breeding.ledger import Ledger
from genehub.errors import UsageError


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return family(tmp_path_factory.mktemp("planner"))


def _breed_parser() -> argparse.ArgumentParser:
    from genehub.cli import breed as breed_cli

    parser = argparse.ArgumentParser(prog="genehub")
    breed_cli.register(parser.add_subparsers(dest="command"))
    return parser


def _assert_runnable(commands):
    """Each command is a `genehub breed` the CLI accepts as written, naming a registered method that fits its
    parents, parents that exist (or that an earlier command writes), and the base or host the method needs."""
    from genehub.breeding.methods import resolve
    from genehub.breeding.parents import load_parent
    from genehub.cli import breed as breed_cli

    parser = _breed_parser()
    written: set[str] = set()
    for cmd in commands:
        argv = shlex.split(cmd)
        assert argv[0] == "genehub"
        args = parser.parse_args(argv[1:])  # SystemExit on any unknown flag
        assert args.func is breed_cli._breed, cmd
        assert all(Path(p).exists() or p in written for p in args.parents), cmd
        existing = [load_parent(p) for p in args.parents if Path(p).exists()]
        method = resolve(args.method, existing) if existing else get_method(args.method)  # UsageError if unknown
        method.check_parents(len(args.parents))
        if "base_model" in method.constraints:
            assert args.base and Path(args.base).is_dir(), cmd
        if method.kind == "adapter":
            assert args.host, cmd
        written.add(args.out)


# goal, donors, overlap -> (matrix strategy, proceeds under the default budget, executed strategy, method)
ROWS = [
    ("capability_fusion", ["donor_a", "donor_b"], 0.2, "ties_dare", True, "ties_dare", "model:dare_ties"),
    ("capability_fusion", ["donor_a", "donor_b"], 0.8, "activation_informed", True, "activation_informed",
     "model:task_arithmetic"),
    ("skill_enhancement", ["donor_a"], None, "lorafication", True, "lorafication", "extract:lora"),
    ("skill_enhancement", ["stranger"], None, "lorafication", False, "ensemble", None),
    ("modular_specialization", ["stranger"], None, "lorafication", True, "lorafication", "extract:lora"),
    ("modular_specialization", ["donor_a"], None, "lorafication", True, "lorafication", "extract:lora"),
    ("deficit_repair", ["donor_a"], None, "lorafication", True, "lorafication", "extract:lora"),
    ("balanced_hybridization", ["donor_a"], 0.1, "slerp", True, "slerp", "model:slerp"),
    # The matrix allows SLERP for any lineage, but blending unrelated weights is judged too risky: flagged.
    ("balanced_hybridization", ["stranger"], 0.1, "slerp", False, "ensemble", None),
    # Outside the matrix: keep the parents separate.
    ("capability_fusion", ["stranger", "donor_a"], 0.2, "ensemble", False, "ensemble", None),
    ("deficit_repair", ["stranger"], None, "ensemble", False, "ensemble", None),
    ("balanced_hybridization", ["donor_a"], 0.9, "ensemble", False, "ensemble", None),
]


@pytest.mark.parametrize(("goal", "donors", "overlap", "strategy", "proceed", "executed", "method"), ROWS)
def test_matrix_rows(models, tmp_path, goal, donors, overlap, strategy, proceed, executed, method):
    p = plan(goal, models["host"], [models[d] for d in donors], overlap=overlap, out=str(tmp_path / "out"))
    assert (p.strategy, p.proceed, p.executed_strategy, p.method) == (strategy, proceed, executed, method)
    assert any(line.startswith("matrix:") and strategy in line for line in p.rationale)
    # The decision rule on the computed estimates: proceed only within the budget and when the expected
    # benefit outweighs the forgetting risk; a flagged plan says which limit it broke.
    est, budget = p.estimates, p.budget
    within = (est.compute_s <= budget.compute_s and est.inference_cost <= budget.max_inference
              and est.forgetting_risk <= budget.max_risk and est.expected_benefit > est.forgetting_risk)
    flagged = [r for r in p.rationale if r.startswith("flagged:")]
    assert p.proceed == (within and strategy != "ensemble" and not flagged)
    assert bool(flagged) == (not within or any("cannot blend" in r for r in flagged))
    assert 0 <= est.forgetting_risk <= 1 and 0 < est.expected_benefit <= 1 and est.compute_s >= 0
    assert f"forgetting risk {est.forgetting_risk}" in p.rationale[-1]
    _assert_runnable(p.commands)
    if executed in ("ensemble", "routing"):
        assert p.commands == [] and p.notes
    if method and method.startswith("model:"):
        from mergekit.config import MergeConfiguration

        config = MergeConfiguration.model_validate(yaml.safe_load(p.mergekit_yaml))
        assert config.merge_method == method.split(":")[1]


def test_lineage_and_modularity_are_measured(models):
    homologous = plan("skill_enhancement", models["host"], [models["donor_a"]])
    assert homologous.conditions.lineage == "homologous" and homologous.conditions.ancestor == "zoo/host"
    assert homologous.conditions.modularity == "integrated"
    # Integrated transfer extracts the gene, then folds it into the recipient.
    assert [c.split("--method ")[1].split()[0] for c in homologous.commands] == ["extract:lora", "fold"]
    stranger = plan("skill_enhancement", models["host"], [models["stranger"]])
    assert stranger.conditions.lineage == "heterologous" and stranger.high_risk
    assert any("forgetting risk" in r for r in stranger.rationale if r.startswith("flagged"))
    modular = plan("modular_specialization", models["host"], [models["donor_a"]])
    assert modular.conditions.modularity == "detachable"
    assert modular.estimates.inference_cost > 1.0 and modular.estimates.forgetting_risk < homologous.estimates.forgetting_risk
    assert [c.split("--method ")[1].split()[0] for c in modular.commands] == ["extract:lora"]


def test_overlap_comes_from_the_genes_homology_scores(models, tmp_path):
    from genehub.hosts import describe_host

    host = describe_host(models["host"]).to_dict()
    low = [make_gene(tmp_path / f"l{i}", models["host"], name=f"l{i}", host=host, homology=0.2, seed=i) for i in range(2)]
    high = [make_gene(tmp_path / f"h{i}", models["host"], name=f"h{i}", host=host, homology=0.9, seed=i) for i in range(2)]
    p_low = plan("capability_fusion", low[0], [low[1]])
    p_high = plan("capability_fusion", high[0], [high[1]])
    assert p_low.conditions.overlap == pytest.approx(0.2) and p_low.strategy == "ties_dare"
    assert p_high.conditions.overlap == pytest.approx(0.9) and p_high.strategy == "activation_informed"
    assert p_low.method == "dare_ties" and "--host" in p_low.commands[0]
    _assert_runnable(p_low.commands + p_high.commands)


def test_budget_flags_a_plan_and_falls_back(models):
    cheap = plan("capability_fusion", models["host"], [models["donor_a"], models["donor_b"]], overlap=0.8,
                 budget="compute=1,inference=2,risk=0.6")
    assert cheap.strategy == "activation_informed" and not cheap.proceed
    assert cheap.executed_strategy == "ensemble"
    assert any("compute" in r for r in cheap.rationale if r.startswith("flagged"))
    assert Budget.parse("low").max_risk < Budget.parse("high").max_risk
    with pytest.raises(UsageError, match="budget"):
        Budget.parse("speed=3")


def test_unknown_goal_and_missing_donor(models):
    with pytest.raises(UsageError, match="Unknown goal"):
        plan("world_domination", models["host"], [models["donor_a"]])
    with pytest.raises(UsageError, match="--donor"):
        plan("capability_fusion", models["host"], [])


def test_ledger_records_outcomes_and_refines_the_benefit(models, tmp_path):
    ledger = Ledger(tmp_path / "ledger.jsonl")
    p = plan("capability_fusion", models["host"], [models["donor_a"], models["donor_b"]], overlap=0.2)
    prior = p.estimates.expected_benefit
    ledger.append(p, measured={"benefit": 0.9, "forgetting": 0.1, "compute_s": 0.2}, artifact="x")
    ledger.append(p, measured={"benefit": 0.7})
    assert len(ledger.entries()) == 2
    assert ledger.benefit_by_strategy("capability_fusion") == {"ties_dare": pytest.approx(0.8)}
    again = plan("capability_fusion", models["host"], [models["donor_a"], models["donor_b"]], overlap=0.2, ledger=ledger)
    assert again.estimates.expected_benefit == pytest.approx(0.8) != prior
    assert "ledger" in again.rationale[-1]
    [row] = ledger.calibration()
    assert row["n"] == 2 and row["measured_forgetting"] == pytest.approx(0.1)
    with pytest.raises(UsageError, match="benefit"):
        ledger.append(p, measured={"forgetting": 0.1})


def test_script_holds_rationale_yaml_and_commands(models):
    p = plan("balanced_hybridization", models["donor_a"], [models["donor_b"]], overlap=0.1)
    script = p.script()
    assert script.startswith("#!/usr/bin/env bash") and "merge_method: slerp" in script
    assert p.commands[0] in script and "# matrix:" in script
